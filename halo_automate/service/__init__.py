"""The service: the daemon that runs scheduled playbooks, its health endpoint and metrics."""
