"""The store: the SQLite journal of runs, changes and locks. Never calls Halo."""
