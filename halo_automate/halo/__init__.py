"""Everything that talks to Halo: the client facade (client), its auth flow (auth), the retry
decision (retry), the wire with its budget (transport, ratelimit), paged reads (paging)."""
