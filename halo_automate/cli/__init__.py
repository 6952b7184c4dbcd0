"""The command line: parse arguments, print, map errors to exit codes. No business logic here.

``main`` (the console script ``halo-automate``) is the click group of :mod:`.app`, which
registers every command by dotted path and imports it only when it runs: importing this
package loads no command, no engine and no sandbox. Each command is one thin function in
:mod:`.commands`; :mod:`.context` builds what it needs from ``--config``, :mod:`.console`
talks to the person, :mod:`.exits` ends it (every exit code is a member of
:class:`halo_automate.errors.ExitCode`, listed by ``halo-automate --help``), and
:mod:`.preview` and :mod:`.report` draw plans and journal rows.
"""

from halo_automate.cli.app import main

__all__ = ["main"]
