"""The commands of the command line, one module each.

A command is one thin function: it parses its options, asks the
:class:`~halo_automate.cli.context.Context` for what it needs, calls one layer below, prints
and returns an exit code. It is registered by dotted path in
:data:`halo_automate.cli.app.COMMANDS` and imported only when it runs (or ``--help`` lists it).
"""
