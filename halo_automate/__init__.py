"""halo_automate: reviewed, scheduled, reversible YAML playbooks for HaloPSA."""

__version__ = "0.1.0"
