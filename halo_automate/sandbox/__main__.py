"""``python -m halo_automate.sandbox``: the ``sandbox`` command without loading the CLI.

The same command as ``halo-automate sandbox``; the benchmark starts its sandboxes this way
because it imports only the sandbox (about a third of the start-up time of the full CLI).
"""

from halo_automate.sandbox.command import sandbox_command

if __name__ == "__main__":
    sandbox_command(prog_name="python -m halo_automate.sandbox")
