"""The sandbox Halo: a local HaloPSA REST API over real HTTP, with seeded data.

For the demo, end-to-end tests and benchmarks. Never imported by the runtime path.
"""

from halo_automate.sandbox.server import SandboxOptions, SandboxServer

__all__ = ["SandboxOptions", "SandboxServer"]
