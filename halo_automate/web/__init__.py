"""The web console: server-rendered pages over the journal, the playbooks and the approvals.

A layer between the service and the engine (``cli > service > web > engine``): the daemon
starts it (:mod:`.server`), and it plans, approves and applies through the engine. Nothing
below imports it. :mod:`.app` is the application and its security guard, :mod:`.auth` the
passwords, sessions and CSRF tokens, :mod:`.console` the state one console reads,
:mod:`.views` what a run's page shows, :mod:`.pages` and :mod:`.queue` the routes,
:mod:`.jobs` the runs a console starts. docs/web-console.md describes it for users.
"""
