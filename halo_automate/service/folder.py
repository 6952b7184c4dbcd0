"""The playbooks folder as the daemon sees it: load it, keep good versions, notice edits.

Reading and validating a file, and "a name used by an earlier file is a problem of the later
one", are :mod:`halo_automate.core.playbook`'s (:func:`each_playbook`, the loop behind
``load_playbooks`` that ``validate`` and ``run`` use too), so the daemon and the CLI accept
exactly the same files. What only a long-running service needs is here:

* **Keep the previous good version.** A file that no longer validates is reported with its
  ``file:line:column`` problems and its previous version keeps running (unless another file
  took its name meanwhile); a new broken file is left out.
* **Problems per file**, so each broken file is logged once with its own problems.
* **Hidden files are ignored**: editors drop ``.#name.yaml`` and the like while saving.
* **A cheap watch**: the (mtime, size) of each file, compared on every poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from halo_automate.core.playbook import Playbook, each_playbook, load_playbook, playbook_files
from halo_automate.errors import ConfigError, PlaybookError


@dataclass(frozen=True)
class Loaded:
    """One load of the playbooks folder."""

    playbooks: dict[Path, Playbook]
    errors: dict[Path, list[str]]
    kept: frozenset[Path]
    """Files that are broken now and whose previous good version is kept."""

    @property
    def problems(self) -> list[str]:
        return [problem for problems in self.errors.values() for problem in problems]


def load_folder(folder: Path, previous: Mapping[Path, Playbook]) -> Loaded:
    """Load every playbook file (name order); a broken file keeps its previous good version."""
    if not folder.is_dir():
        raise ConfigError(f"playbooks_dir: {folder} is not a folder")
    errors: dict[Path, list[str]] = {}
    kept: set[Path] = set()

    def load_or_keep(path: Path) -> Playbook:
        try:
            return load_playbook(path)
        except PlaybookError as e:
            if path not in previous:
                raise
            errors[path] = list(e.problems)
            kept.add(path)
            return previous[path]

    current: dict[Path, Playbook] = {}
    files = [p for p in playbook_files(folder) if not p.name.startswith(".")]
    for path, playbook, problems in each_playbook(files, load_or_keep):
        if problems:
            errors.setdefault(path, []).extend(problems)
        if playbook is None:
            kept.discard(path)
        else:
            current[path] = playbook
    return Loaded(current, errors, frozenset(kept))


def folder_snapshot(folder: Path) -> dict[str, tuple[int, int]] | None:
    """(mtime_ns, size) of each playbook file: a cheap way to notice edits, adds, deletes."""
    try:
        return {
            p.name: (st.st_mtime_ns, st.st_size)
            for p in folder.iterdir()
            if p.suffix in (".yaml", ".yml")
            for st in (p.stat(),)
        }
    except OSError:
        return None
