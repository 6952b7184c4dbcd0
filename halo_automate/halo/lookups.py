"""Fetching Halo's lookup lists, driven by the schema registry, cached per client.

Which endpoint, parameters and envelope each kind has is a row of
:data:`halo_automate.core.schema.LOOKUP_KINDS`; this module only reads them: a bare or
``results``-wrapped list by one GET, a paged list (clients) through the client's paged read.
Each kind is fetched once per client (``refresh`` forgets them), several at a time, under a
lock so concurrent runs of one process share the fetch.

It knows nothing of the client's transport: :class:`LookupCache` is given the GET, the paged
read and the bounded concurrent map it needs, so the client owns one thin delegating method.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

from halo_automate.core.lookups import Lookups, LookupTable, kind_table
from halo_automate.core.schema import LOOKUP_KINDS, Envelope, LookupKind, lookup_kind
from halo_automate.errors import HaloResponseError

Rows: TypeAlias = list[dict[str, Any]]
Get: TypeAlias = Callable[[str, Mapping[str, str] | None], Any]
ReadPages: TypeAlias = Callable[[str, str], Iterable[dict[str, Any]]]
MapConcurrently: TypeAlias = Callable[
    [Callable[[LookupKind], Rows], Sequence[LookupKind]], Iterator[Rows]
]


def listed_rows(data: Any, kind: LookupKind) -> Rows:
    """A :attr:`~Envelope.LIST` answer's records: a bare array, or under ``list_key``."""
    if isinstance(data, dict):
        data = data.get(kind.list_key)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise HaloResponseError("expected a list of records", endpoint=kind.path)
    return data


def fetch_rows(kind: LookupKind, get: Get, read_pages: ReadPages) -> Rows:
    """The raw records of one lookup kind, read the way its envelope says."""
    if kind.envelope is Envelope.PAGED:
        return list(read_pages(kind.endpoint, kind.list_key))
    return listed_rows(get(kind.endpoint, dict(kind.params) or None), kind)


class LookupCache:
    """The lookup lists one client has fetched, each kind at most once until refreshed."""

    def __init__(self, get: Get, read_pages: ReadPages, map_concurrently: MapConcurrently) -> None:
        self._get = get
        self._read_pages = read_pages
        self._map = map_concurrently
        self._tables: dict[str, LookupTable] = {}
        self._lock = threading.Lock()

    def lookups(self, kinds: Iterable[str] | None = None, *, refresh: bool = False) -> Lookups:
        """The lists named in ``kinds`` (default: every kind); ValueError for an unknown one."""
        wanted = [lookup_kind(k) for k in (LOOKUP_KINDS if kinds is None else kinds)]
        with self._lock:
            if refresh:
                self._tables.clear()
            missing = list({k.kind: k for k in wanted if k.kind not in self._tables}.values())
            for kind, rows in zip(missing, self._map(self._fetch, missing), strict=True):
                self._tables[kind.kind] = kind_table(kind, rows)
            return Lookups({k.kind: self._tables[k.kind] for k in wanted})

    def _fetch(self, kind: LookupKind) -> Rows:
        return fetch_rows(kind, self._get, self._read_pages)
