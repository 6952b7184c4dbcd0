"""The pure core: the playbook language, conditions, selection, lookups and plans.

No I/O beyond reading a playbook file, no clock (``now`` is passed in), and no httpx,
apscheduler, click, rich or sqlite3 (the check script enforces it).
"""
