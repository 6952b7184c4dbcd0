"""The pure core: the Halo schema registry, the playbook language (actions, conditions),
selection, lookups and plans.

No I/O beyond reading a playbook file, no clock (``now`` is passed in), and no httpx,
apscheduler, click, rich or sqlite3 (the check script enforces it).
"""
