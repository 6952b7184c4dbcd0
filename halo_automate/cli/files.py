"""Files the CLI reads and writes: bounded reads of regular files, atomic writes without links.

A plan file comes from the user, so reading it is bounded: :func:`read_plan_file` opens it
without blocking (a FIFO with no writer would hang ``open``), refuses anything but a regular
file (``/dev/zero``, a FIFO, a directory), refuses more than :data:`MAX_PLAN_BYTES` before
reading a byte, and decodes strict UTF-8. Every problem is one :class:`PlanError` line (exit 2).

:func:`write_file_atomically` is how the CLI writes a file (``plan --out``): into a temp file
in the same folder, flushed to disk, then renamed over the target, so a crash or a full disk
leaves the old file whole. It refuses a target that is a symbolic link (``--out`` pointed at a
link to ``config.yaml`` overwrote the config) or not a regular file; the rename itself never
follows a link.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from halo_automate.errors import HaloAutomateError, PlanError

MAX_PLAN_BYTES = 32 * 1024 * 1024
"""A plan file larger than this (32 MB, ~80,000 changes) is refused (docs/playbooks.md)."""


def read_plan_file(path: str | Path, limit: int = MAX_PLAN_BYTES) -> str:
    """The text of a plan file: a regular file of at most ``limit`` bytes of UTF-8."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise PlanError(f"{path}: cannot read the plan ({e.strerror or e})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PlanError(f"{path}: not a regular file; a plan is a file saved by plan --out")
        if info.st_size > limit:
            raise PlanError(f"{path}: plan file is larger than {limit // (1024 * 1024)} MB")
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(limit + 1)
    except OSError as e:
        raise PlanError(f"{path}: cannot read the plan ({e.strerror or e})") from None
    finally:
        os.close(fd)
    if len(raw) > limit:  # it grew while we read it
        raise PlanError(f"{path}: plan file is larger than {limit // (1024 * 1024)} MB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PlanError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None


def check_write_target(path: str | Path, error: type[HaloAutomateError] = PlanError) -> int:
    """Refuse ``path`` as a write target when it is a symbolic link or not a regular file;
    return the permissions the written file gets (the old file's, else 0600). ``plan --out``
    calls it before planning too, so a bad target fails before the scan, not after."""
    target = Path(path)
    try:
        info = target.lstat()
    except FileNotFoundError:
        return 0o600
    except OSError as e:
        raise error(f"{target}: cannot write ({e.strerror or e})") from None
    if stat.S_ISLNK(info.st_mode):
        raise error(f"{target}: is a symbolic link; refusing to write through it")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{target}: not a regular file; refusing to replace it")
    return stat.S_IMODE(info.st_mode)


def write_file_atomically(
    path: str | Path, text: str, error: type[HaloAutomateError] = PlanError
) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and a rename.

    A symbolic link or a non-regular file at ``path`` is refused (``error``, a PlanError for
    a plan file); an existing regular file keeps its permissions, a new one is private (0600).
    """
    target = Path(path)
    mode = check_write_target(target, error)
    folder = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise error(f"{target}: cannot write ({e.strerror or e})") from None
    try:
        try:
            data = text.encode("utf-8")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise error(f"{target}: cannot write ({e.strerror or e})") from None
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Flush the rename to disk (best effort: not every platform opens folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
