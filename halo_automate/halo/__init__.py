"""Everything that talks to Halo: auth, the request budget, paging, lookups, writes."""
