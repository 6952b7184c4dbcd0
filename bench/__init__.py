"""The halo_automate benchmark: requests, 429s, time and memory against the floor and a
baseline that does the same job the way today's scripts do. Run ``python -m bench``."""
