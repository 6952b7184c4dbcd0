"""The engine: apply a plan, recover an interrupted run, undo one, and the runner that
sequences a run for the CLI and the service."""
