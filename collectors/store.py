"""The store: one Hive-partitioned Parquet dataset per table, written atomically and idempotently.

Layout under a local folder or ``s3://bucket/prefix`` (plain Hive-style Parquet, so DuckDB,
Athena, Trino and Spark read it without stormwatch)::

    <table>/_manifest.json                                    the committed state
    <table>/date=YYYY-MM-DD/part-<version>-<id>.parquet       immutable data files

A table holds exactly the rows of the files its manifest lists. A write merges its rows into
the affected files of each date partition (a row whose key exists is replaced: the new value
wins), writes the results under new names, publishes a new manifest in one atomic step (a
rename on a local disk, a single PUT on S3) and then deletes the files it superseded. A crash
before the publish leaves only unreferenced files; a crash after it leaves superseded ones. The
next write, or ``vacuum()``, deletes both. Readers only open files the manifest lists, so a
reader never sees a partial or duplicated write. docs/adr/0003-store-commit-protocol.md records
the choice, and docs/store.md shows how to read the store with pandas and DuckDB.

Times are UTC: partitions are UTC dates of each table's ``time_column``, ranges are half-open
``[start, end)``, and reads return ``datetime64[ms, UTC]`` columns.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from collectors.errors import StoreError
from collectors.schema import TABLES, Table

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: only the in-process lock guards writers
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

__all__ = ["PartitionInfo", "Problem", "Store", "WriteResult", "s3_filesystem"]

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
FORMAT = "stormwatch-store/1"
DAY_MS = 86_400_000
LOCK = "_lock"
QUARANTINE = "_quarantine"
# On object stores there is no lock, so a write only sweeps files a crashed writer left behind
# once they are this old: a second writer, which is not supported but can be misconfigured, then
# loses its write to the version check instead of finding its fresh files deleted.
OBJECT_STORE_SWEEP_GRACE = timedelta(minutes=15)
_READ_ATTEMPTS = 3

# The same pandas types collectors/_frame.py gives the sources: a missing count stays missing.
_NULLABLE: dict[pa.DataType, Any] = {
    pa.int64(): pd.Int64Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}

Bound: TypeAlias = datetime | date | pd.Timestamp | str


@dataclass(frozen=True, slots=True)
class Problem:
    """A file that could not be read (or a table that could not be opened), and why."""

    path: str
    error: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``Store.write`` did.

    ``rows_written`` counts the rows of the frame (after duplicate keys in it collapsed, the last
    one winning); ``rows_replaced`` how many of those keys were already stored. ``files`` are the
    data files this write created: empty when the store already held exactly these rows.
    """

    rows_written: int
    files: tuple[str, ...]
    rows_replaced: int = 0
    version: int = 0
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    date: date
    files: int
    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class _File:
    path: str  # relative to the table folder: "date=2024-05-01/part-00000003-ab12cd34ef56.parquet"
    date: str
    rows: int
    bytes: int
    min_ms: int  # of the table's time column, epoch milliseconds UTC
    max_ms: int
    # (column, min, max) of the text key columns, kept for tables whose key omits the time: a
    # write looks for its keys only in the files whose ranges could hold them.
    keys: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Manifest:
    version: int
    files: tuple[_File, ...]

    def to_json(self, table: str) -> bytes:
        document = {
            "format": FORMAT,
            "table": table,
            "version": self.version,
            "committed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "files": [
                {
                    "path": f.path,
                    "date": f.date,
                    "rows": f.rows,
                    "bytes": f.bytes,
                    "min_ms": f.min_ms,
                    "max_ms": f.max_ms,
                    **({"keys": {c: [low, high] for c, low, high in f.keys}} if f.keys else {}),
                }
                for f in sorted(self.files, key=lambda f: (f.date, f.path))
            ],
        }
        return json.dumps(document, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> _Manifest:
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise ValueError(f"format {document.get('format')!r}, expected {FORMAT!r}")
            files = tuple(
                _File(
                    str(f["path"]),
                    str(f["date"]),
                    int(f["rows"]),
                    int(f["bytes"]),
                    int(f["min_ms"]),
                    int(f["max_ms"]),
                    tuple((str(c), str(r[0]), str(r[1])) for c, r in f.get("keys", {}).items()),
                )
                for f in document["files"]
            )
            return cls(int(document["version"]), files)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _DamagedManifest(
                f"manifest {where} is unreadable ({exc}); restore it from a backup, or call "
                "Store.rebuild_manifest() to list the Parquet files present"
            ) from exc


def s3_filesystem() -> pafs.S3FileSystem:
    """An S3 filesystem configured as boto3 would be, from the environment.

    ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (the sandbox), ``AWS_REGION`` or
    ``AWS_DEFAULT_REGION``; credentials come from the AWS SDK's default chain (environment,
    profile, SSO, instance role).
    """
    options: dict[str, Any] = {}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        if not parts.netloc:
            raise StoreError(
                f"AWS_ENDPOINT_URL {endpoint!r} is not a URL; expected e.g. http://127.0.0.1:4566"
            )
        options["endpoint_override"] = parts.netloc + parts.path.rstrip("/")
        options["scheme"] = parts.scheme or "https"
    return pafs.S3FileSystem(**options)


class Store:
    """Tables of Parquet files under ``location``: a local folder or ``s3://bucket/prefix``.

    Parameters
    ----------
    location
        Where the tables live. Created on the first write.
    filesystem
        A pyarrow filesystem to use instead of the default (a local disk, or S3 configured from
        the environment by ``s3_filesystem()``). Any filesystem other than
        ``pyarrow.fs.LocalFileSystem`` is treated as an object store whose writes appear whole
        when they complete (S3, GCS, ABFS).
    max_file_rows
        A partition is kept in files of at most about this many rows, split by time, so a write
        rewrites only the files whose time range it touches.

    Examples
    --------
    >>> store = Store("/var/lib/stormwatch")  # doctest: +SKIP
    >>> store.write("metrics", frame)  # doctest: +SKIP
    WriteResult(rows_written=1440, files=(...), rows_replaced=0, version=1, problems=())
    >>> store.read("metrics", start="2024-05-01T00:00Z", filters={"resource": "lambda:checkout"})
    ... # doctest: +SKIP

    One writer per store: local writers take a file lock per table; on S3 a second writer is
    detected when it tries to publish and its write fails with ``StoreError``. Readers need no
    lock and see the state of the last published write.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        filesystem: pafs.FileSystem | None = None,
        max_file_rows: int = 500_000,
        row_group_rows: int = 65_536,
    ) -> None:
        text = os.fspath(location)
        parts = urlsplit(text) if "://" in text else None
        if parts is not None and parts.scheme == "s3":
            if not parts.netloc:
                raise StoreError(f"store location {text!r} has no bucket; use s3://bucket/prefix")
            prefix = parts.path.strip("/")
            self._root = f"{parts.netloc}/{prefix}" if prefix else parts.netloc
            self._fs: pafs.FileSystem = filesystem or s3_filesystem()
            self._display_prefix = "s3://"
        elif parts is None or parts.scheme == "file":
            path = parts.path if parts is not None else text
            self._fs = filesystem or pafs.LocalFileSystem()
            if isinstance(self._fs, pafs.LocalFileSystem):
                self._root = Path(path).expanduser().resolve().as_posix()
            else:
                self._root = path.rstrip("/")
            self._display_prefix = ""
        else:
            raise StoreError(
                f"store location {text!r}: expected a local folder or s3://bucket/prefix"
            )
        if max_file_rows < 1 or row_group_rows < 1:
            raise StoreError("max_file_rows and row_group_rows must be positive")
        self.location = text
        self.max_file_rows = max_file_rows
        self.row_group_rows = row_group_rows
        self._local = isinstance(self._fs, pafs.LocalFileSystem)
        self._format = ds.ParquetFileFormat()
        self._mutexes: dict[str, threading.Lock] = {}
        self._mutexes_guard = threading.Lock()
        self._tls = threading.local()

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    @property
    def uri(self) -> str:
        """Where the tables live, normalised: an absolute folder or ``s3://bucket/prefix``
        (two ``Store`` objects with the same ``uri`` are the same store)."""
        return self._display_prefix + self._root

    # -- public API -------------------------------------------------------------------------------
    @property
    def last_read_problems(self) -> list[Problem]:
        """Files the last ``read``/``latest`` in this thread skipped (each is also logged)."""
        return list(getattr(self._tls, "problems", ()))

    def tables(self) -> list[str]:
        """Names of the declared tables that exist in this store."""
        names = list(TABLES)
        infos = self._fs.get_file_info([self._manifest_path(name) for name in names])
        return [name for name, info in zip(names, infos, strict=True) if info.is_file]

    def partitions(self, table: str) -> list[PartitionInfo]:
        """The table's date partitions, oldest first, from its manifest (no data is read)."""
        self._spec(table)
        manifest = self._manifest(table)
        if manifest is None:
            return []
        grouped: dict[str, list[_File]] = {}
        for f in manifest.files:
            grouped.setdefault(f.date, []).append(f)
        return [
            PartitionInfo(
                date.fromisoformat(d),
                len(files),
                sum(f.rows for f in files),
                sum(f.bytes for f in files),
            )
            for d, files in sorted(grouped.items())
        ]

    def time_range(self, table: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The earliest and latest value of the table's time column, or None when it is empty."""
        self._spec(table)
        manifest = self._manifest(table)
        if manifest is None or not manifest.files:
            return None
        low = min(f.min_ms for f in manifest.files)
        high = max(f.max_ms for f in manifest.files)
        return pd.Timestamp(low, unit="ms", tz="UTC"), pd.Timestamp(high, unit="ms", tz="UTC")

    def write(self, table: str, frame: pd.DataFrame | pa.Table) -> WriteResult:
        """Store ``frame``'s rows in ``table``, replacing rows whose key is already stored.

        The frame must have exactly the table's declared columns (collectors/schema.py).
        Timestamps must be timezone-aware; they are stored as UTC milliseconds (finer digits are
        truncated). Writing the same rows again leaves the store unchanged, and the write is
        atomic: after a crash at any instant readers see either all of it or none of it.
        """
        spec = self._spec(table)
        batch = _conform(spec, frame)
        if batch.num_rows == 0:
            return WriteResult(0, ())
        batch = _dedupe(batch, spec.key)
        try:
            with self._writer(table):
                manifest = self._manifest(table)
                if manifest is None:
                    manifest = self._create(table)
                self._sweep(table, manifest, self._sweep_grace())
                return self._merge(spec, manifest, batch)
        except OSError as exc:
            raise StoreError(
                f"table {table}: writing to {self.location} failed ({_describe(exc)}); readers "
                "see the table as before this write or with all of it, and writing again is safe"
            ) from exc

    def read(
        self,
        table: str,
        *,
        start: Bound | None = None,
        end: Bound | None = None,
        filters: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Rows of ``table`` whose time column is in ``[start, end)`` (UTC) and match ``filters``.

        ``filters`` maps a column to a value or a list of accepted values (None matches nulls).
        Partitions and files outside the time range are never opened, and the remaining filters
        and the column projection are pushed down to the Parquet reader. Timestamps come back as
        ``datetime64[ms, UTC]``; an empty result still has the columns and dtypes. A file that
        cannot be read is logged, listed in ``last_read_problems`` and skipped. Row order is not
        specified. String columns named in ``categorical`` come back as pandas categoricals: a
        few bytes a row instead of a string each, for the key columns of a week of metrics.
        """
        spec = self._spec(table)
        wanted = _columns(spec, columns)
        low = _bound_ms(start, "start")
        high = _bound_ms(end, "end")
        expression = _expression(spec, low, high, filters)
        dictionary = [name for name in categorical if name in wanted]
        for name in dictionary:
            if not pa.types.is_string(spec.schema.field(name).type):
                raise ValueError(f"table {table}: column {name} is not a string column")
        arrow, problems = self._scan(spec, low, high, expression, wanted, dictionary)
        self._tls.problems = problems
        large = arrow.nbytes > _LARGE_READ_BYTES
        frame = _to_pandas(arrow)
        if large:
            # Arrow's allocator keeps the pages of a large scan for reuse; hand them back, or a
            # week of metrics holds three times its frame's size (4.2 GB for a 1.1 GB frame).
            pa.default_memory_pool().release_unused()
        return frame

    def latest(
        self,
        table: str,
        by: Sequence[str],
        *,
        start: Bound | None = None,
        end: Bound | None = None,
        filters: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The most recent row (by the table's time column) of each ``by`` group.

        For watermarks and "current state": e.g. every breaker's last observation with
        ``by=["account", "region", "table", "breaker"]``. Bound it with ``start`` on large
        tables: only the rows in ``[start, end)`` are read.
        """
        spec = self._spec(table)
        groups = _columns(spec, by)
        if not groups:
            raise StoreError(f"table {spec.name}: latest() needs at least one `by` column")
        wanted = None if columns is None else [*groups, spec.time_column, *columns]
        frame = self.read(
            table,
            start=start,
            end=end,
            filters=filters,
            columns=None if wanted is None else list(dict.fromkeys(wanted)),
        )
        if frame.empty:
            return frame
        frame = frame.sort_values(spec.time_column, kind="stable")
        frame = frame.drop_duplicates(groups, keep="last")
        return frame.sort_values(groups, kind="stable").reset_index(drop=True)

    def vacuum(self, table: str | None = None, *, older_than: timedelta | None = None) -> list[str]:
        """Delete files no manifest lists (left by a crashed or superseded write).

        ``older_than`` defaults to no grace on a local disk (writers hold a lock) and to
        ``OBJECT_STORE_SWEEP_GRACE`` on object stores. Returns the deleted paths.
        """
        names = [self._spec(table).name] if table is not None else self.tables()
        grace = self._sweep_grace() if older_than is None else older_than
        deleted: list[str] = []
        for name in names:
            with self._writer(name):
                manifest = self._manifest(name)
                if manifest is not None:
                    deleted += self._sweep(name, manifest, grace)
        return deleted

    def repair(self, table: str) -> list[Problem]:
        """Take every unreadable file out of ``table`` (copied to ``_quarantine/`` first).

        Reads every listed file in full. Returns the problems found; the table's readable rows
        are untouched. Re-collect the affected window to fill the gap.
        """
        spec = self._spec(table)
        with self._writer(table):
            manifest = self._manifest(table)
            if manifest is None:
                return []
            bad: list[tuple[_File, Problem]] = []
            for f in manifest.files:
                try:
                    self._dataset(spec, [self._path(table, f.path)]).to_table()
                except Exception as exc:
                    bad.append((f, Problem(self._display(table, f.path), _describe(exc))))
            if not bad:
                return []
            for f, _ in bad:
                source = self._path(table, f.path)
                target = f"{self._root}/{QUARANTINE}/{table}/{f.path}"
                with contextlib.suppress(OSError):  # a missing file has nothing to keep
                    self._copy(source, target)
            dropped = {f.path for f, _ in bad}
            kept = tuple(f for f in manifest.files if f.path not in dropped)
            self._publish(table, _Manifest(manifest.version + 1, kept), manifest.version)
            for f, problem in bad:
                self._delete(self._path(table, f.path))
                log.warning("store: quarantined %s (%s)", problem.path, problem.error)
            return [problem for _, problem in bad]

    def rebuild_manifest(self, table: str) -> list[Problem]:
        """List every readable Parquet file under ``table/date=*/`` in a new manifest.

        The way back from a lost or damaged manifest, or to adopt files written by another tool.
        Every file present is taken as committed, including any a crashed write left behind, so
        check for duplicate keys afterwards. Returns the files that could not be adopted.
        """
        spec = self._spec(table)
        with self._writer(table):
            try:
                old = self._manifest(table)
            except _DamagedManifest:
                old = None
            problems: list[Problem] = []
            files: list[_File] = []
            for rel, size, _ in self._list(table):
                partition = rel.split("/", 1)[0]
                if not rel.endswith(".parquet") or not partition.startswith("date="):
                    continue
                try:
                    rows = self._dataset(spec, [self._path(table, rel)]).to_table(
                        columns=list(dict.fromkeys([spec.time_column, *spec.key]))
                    )
                except Exception as exc:
                    problems.append(Problem(self._display(table, rel), _describe(exc)))
                    continue
                if rows.num_rows:
                    ms = _ms(rows.column(spec.time_column))
                    low, high = int(ms.min()), int(ms.max())
                    ranges = _key_ranges(spec, rows)
                    files.append(_File(rel, partition[5:], len(ms), size, low, high, ranges))
            version = (old.version if old is not None else 0) + 1
            self._put_bytes(
                self._manifest_path(table), _Manifest(version, tuple(files)).to_json(table)
            )
            return problems

    # -- writing ----------------------------------------------------------------------------------
    def _merge(self, spec: Table, manifest: _Manifest, batch: pa.Table) -> WriteResult:
        table = spec.name
        days = _ms(batch.column(spec.time_column)) // DAY_MS
        parts: dict[str, pa.Table] = {}
        for day in np.unique(days):
            parts[_day_name(int(day))] = batch.filter(pa.array(days == day))
        by_date: dict[str, list[_File]] = {}
        for f in manifest.files:
            by_date.setdefault(f.date, []).append(f)

        problems: list[Problem] = []
        affected: dict[str, list[_File]] = {}
        for name, part in parts.items():
            ms = _ms(part.column(spec.time_column))
            low, high = int(ms.min()), int(ms.max())
            existing = by_date.get(name, [])
            # Keys include the time (or, below, are searched everywhere), so only files whose
            # time range meets the new rows' can hold one of their keys.
            hits = [f for f in existing if f.max_ms >= low and f.min_ms <= high]
            if existing:  # grow the partition's newest file rather than add a small one
                newest = max(existing, key=lambda f: (f.max_ms, f.path))
                if newest not in hits and newest.rows + part.num_rows <= self.max_file_rows:
                    hits.append(newest)
            affected[name] = hits
        keys = batch.select(list(spec.key))
        if spec.time_column not in spec.key:
            # The identity does not include the time, which may have moved to another day.
            chosen = {f.path for files in affected.values() for f in files}
            wanted = {column: (low, high) for column, low, high in _key_ranges(spec, batch)}
            for f in manifest.files:
                if f.path in chosen or any(
                    high < wanted[column][0] or low > wanted[column][1]
                    for column, low, high in f.keys
                ):
                    continue
                try:
                    holds = self._holds_any(spec, f, keys)
                except _Unreadable as exc:
                    problems.append(exc.problem)
                    continue
                if holds:
                    affected.setdefault(f.date, []).append(f)

        replaced = 0
        removed: list[_File] = []
        jobs: list[tuple[str, pa.Table]] = []
        for name in sorted(set(parts) | set(affected)):
            old, readable, unreadable = self._read_files(spec, affected.get(name, []))
            problems += unreadable
            part = parts.get(name)
            kept = _anti_join(old, keys, spec.key) if old.num_rows else old
            replaced += old.num_rows - kept.num_rows
            out = kept if part is None else pa.concat_tables([kept, part])
            if out.num_rows == old.num_rows and _same_rows(out, old, spec.key):
                continue  # the partition already holds exactly these rows
            removed += readable
            if out.num_rows:
                jobs.append((name, out))

        if not jobs and not removed:
            return WriteResult(batch.num_rows, (), replaced, manifest.version, tuple(problems))
        version = manifest.version + 1
        written = self._write_partitions(spec, version, jobs)
        gone = {f.path for f in removed}
        files = tuple(f for f in manifest.files if f.path not in gone) + tuple(written)
        self._publish(table, _Manifest(version, files), manifest.version)
        for f in removed:
            self._delete(self._path(table, f.path))
        return WriteResult(
            batch.num_rows,
            tuple(self._display(table, f.path) for f in written),
            replaced,
            version,
            tuple(problems),
        )

    def _write_partitions(
        self, spec: Table, version: int, jobs: list[tuple[str, pa.Table]]
    ) -> list[_File]:
        def one(job: tuple[str, pa.Table]) -> list[_File]:
            name, rows = job
            files = []
            for chunk in _chunks(rows, spec, self.max_file_rows):
                rel = f"date={name}/part-{version:08d}-{uuid.uuid4().hex[:12]}.parquet"
                size = self._put_parquet(self._path(spec.name, rel), chunk)
                ms = _ms(chunk.column(spec.time_column))
                low, high = int(ms.min()), int(ms.max())
                files.append(
                    _File(rel, name, chunk.num_rows, size, low, high, _key_ranges(spec, chunk))
                )
            return files

        if len(jobs) == 1:
            return one(jobs[0])
        with ThreadPoolExecutor(max_workers=min(4, len(jobs))) as pool:
            return [f for files in pool.map(one, jobs) for f in files]

    def _read_files(
        self, spec: Table, files: list[_File]
    ) -> tuple[pa.Table, list[_File], list[Problem]]:
        """Rows of ``files``; a corrupt or missing file is reported and left in place.

        Any other failure (a network error, permissions) aborts the write: merging without a
        file that may hold some of the keys would store them twice.
        """
        tables: list[pa.Table] = []
        readable: list[_File] = []
        problems: list[Problem] = []
        for f in files:
            try:
                tables.append(self._read_for_write(spec, f))
                readable.append(f)
            except _Unreadable as exc:
                log.warning(
                    "store: %s is unreadable (%s); new rows go to a new file beside it, and "
                    "Store.repair(%r) takes it out",
                    exc.problem.path,
                    exc.problem.error,
                    spec.name,
                )
                problems.append(exc.problem)
        if not tables:
            return spec.schema.empty_table(), readable, problems
        return pa.concat_tables(tables).combine_chunks(), readable, problems

    def _read_for_write(self, spec: Table, f: _File, columns: list[str] | None = None) -> pa.Table:
        try:
            return self._dataset(spec, [self._path(spec.name, f.path)]).to_table(columns=columns)
        except (FileNotFoundError, pa.ArrowInvalid) as exc:
            raise _Unreadable(Problem(self._display(spec.name, f.path), _describe(exc))) from exc
        except OSError as exc:
            raise StoreError(
                f"table {spec.name}: cannot read {self._display(spec.name, f.path)} to merge "
                f"into it ({_describe(exc)}); nothing was written. If the file is damaged, "
                f"Store.repair({spec.name!r}) takes it out"
            ) from exc

    def _holds_any(self, spec: Table, f: _File, keys: pa.Table) -> bool:
        stored = self._read_for_write(spec, f, columns=list(spec.key))
        return bool(stored.join(keys, keys=list(spec.key), join_type="left semi").num_rows)

    def _create(self, table: str) -> _Manifest:
        """Publish an empty manifest before any data file, so that files found without a
        manifest are never mistaken for a crashed first write."""
        foreign = [rel for rel, _, _ in self._list(table) if rel.endswith(".parquet")]
        if foreign:
            raise StoreError(
                f"table {table}: {self._display(table, '')} holds {len(foreign)} Parquet files but "
                f"no {MANIFEST}; restore the manifest, or call Store.rebuild_manifest({table!r}) "
                "to adopt the files present"
            )
        manifest = _Manifest(0, ())
        self._put_bytes(self._manifest_path(table), manifest.to_json(table))
        return manifest

    def _publish(self, table: str, manifest: _Manifest, expected: int) -> None:
        """The commit point: one atomic replacement of the manifest."""
        if not self._local:  # no lock on an object store: refuse to overwrite another commit
            current = self._manifest(table)
            found = current.version if current is not None else None
            if found != expected:
                raise StoreError(
                    f"table {table}: another writer published version {found} of "
                    f"{self._display(table, MANIFEST)} while this write was building version "
                    f"{manifest.version}; nothing was published. Run one collector per store."
                )
        self._put_bytes(self._manifest_path(table), manifest.to_json(table))

    def _sweep(self, table: str, manifest: _Manifest, grace: timedelta) -> list[str]:
        """Delete data files the manifest does not list and temporary files, once ``grace`` old."""
        listed = {f.path for f in manifest.files}
        cutoff = time.time() - grace.total_seconds()
        deleted: list[str] = []
        for rel, _, mtime in self._list(table):
            name = rel.rsplit("/", 1)[-1]
            orphan = rel.endswith(".parquet") and rel not in listed
            temporary = name.startswith(".") and name.endswith(".tmp")
            if (orphan or temporary) and (grace <= timedelta(0) or mtime <= cutoff):
                self._delete(self._path(table, rel))
                deleted.append(self._display(table, rel))
        if deleted:
            log.info("store: %s: deleted %d unreferenced files", table, len(deleted))
        if self._local:
            with contextlib.suppress(OSError):
                for entry in os.scandir(f"{self._root}/{table}"):
                    if (
                        entry.is_dir()
                        and entry.name.startswith("date=")
                        and not any(os.scandir(entry.path))
                    ):
                        Path(entry.path).rmdir()
        return deleted

    def _sweep_grace(self) -> timedelta:
        return timedelta(0) if self._local else OBJECT_STORE_SWEEP_GRACE

    @contextlib.contextmanager
    def _writer(self, table: str) -> Iterator[None]:
        with self._mutexes_guard:
            mutex = self._mutexes.setdefault(table, threading.Lock())
        with mutex:
            if not self._local or fcntl is None:
                yield
                return
            folder = f"{self._root}/{table}"
            Path(folder).mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{folder}/{LOCK}", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if the process dies
                yield
            finally:
                os.close(fd)

    # -- reading ----------------------------------------------------------------------------------
    def _scan(
        self,
        spec: Table,
        low: int | None,
        high: int | None,
        expression: ds.Expression | None,
        columns: list[str],
        dictionary: Sequence[str] = (),
    ) -> tuple[pa.Table, list[Problem]]:
        schema = _with_dictionaries(spec.schema, dictionary)
        empty = schema.empty_table().select(columns)
        for _attempt in range(_READ_ATTEMPTS):
            try:
                manifest = self._manifest(spec.name)
            except _DamagedManifest as exc:
                return empty, self._report([Problem(self._display(spec.name, MANIFEST), str(exc))])
            if manifest is None:
                return empty, self._report(self._unmanaged(spec.name))
            chosen = [
                f
                for f in manifest.files
                if (low is None or f.max_ms >= low) and (high is None or f.min_ms < high)
            ]
            if not chosen:
                return empty, []
            paths = [self._path(spec.name, f.path) for f in chosen]
            with contextlib.suppress(Exception):  # on any failure, find the culprits one by one
                dataset = self._dataset(spec, paths, dictionary)
                return dataset.to_table(columns=columns, filter=expression), []
            tables: list[pa.Table] = []
            problems: list[Problem] = []
            vanished = False
            for f, path in zip(chosen, paths, strict=True):
                try:
                    tables.append(
                        self._dataset(spec, [path], dictionary).to_table(
                            columns=columns, filter=expression
                        )
                    )
                except Exception as exc:
                    vanished = vanished or isinstance(exc, FileNotFoundError)
                    problems.append(Problem(self._display(spec.name, f.path), _describe(exc)))
            if vanished and self._version(spec.name) != manifest.version:
                continue  # a write replaced the files since we read the manifest: read anew
            self._report(problems)
            return (pa.concat_tables(tables) if tables else empty), problems
        raise StoreError(
            f"table {spec.name}: the files changed under {_READ_ATTEMPTS} consecutive reads; "
            "writes are too frequent for this reader, try again"
        )

    def _unmanaged(self, table: str) -> list[Problem]:
        count = sum(1 for rel, _, _ in self._list(table) if rel.endswith(".parquet"))
        if not count:
            return []
        return [
            Problem(
                self._display(table, MANIFEST),
                f"missing, so the {count} Parquet files beside it are not read; restore it, or "
                f"call Store.rebuild_manifest({table!r})",
            )
        ]

    @staticmethod
    def _report(problems: list[Problem]) -> list[Problem]:
        for problem in problems:
            log.warning("store: skipped %s: %s", problem.path, problem.error)
        return problems

    def _version(self, table: str) -> int | None:
        try:
            manifest = self._manifest(table)
        except StoreError:
            return None
        return manifest.version if manifest is not None else None

    def _dataset(
        self, spec: Table, paths: list[str], dictionary: Sequence[str] = ()
    ) -> ds.FileSystemDataset:
        # Built from the manifest's paths with the declared schema: no listing, and no file is
        # opened before the scan (so pruned files are never touched). Columns in `dictionary`
        # are read as Parquet stores them, dictionary-encoded: a week of metrics' key columns
        # never exist as one string per row (7.75 GB peak to read 1.1 GB of frame, otherwise).
        file_format = self._format
        if dictionary:
            read_options = ds.ParquetReadOptions(dictionary_columns=set(dictionary))
            file_format = ds.ParquetFileFormat(read_options=read_options)
        return ds.FileSystemDataset.from_paths(
            paths,
            schema=_with_dictionaries(spec.schema, dictionary),
            format=file_format,
            filesystem=self._fs,
        )

    def _manifest(self, table: str) -> _Manifest | None:
        path = self._manifest_path(table)
        try:
            with self._fs.open_input_stream(path) as stream:
                data = stream.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"cannot read {self._display(table, MANIFEST)} ({_describe(exc)}); check the "
                "store location and the credentials' access to it"
            ) from exc
        return _Manifest.from_json(data, self._display(table, MANIFEST))

    # -- filesystem -------------------------------------------------------------------------------
    def _spec(self, table: str) -> Table:
        spec = TABLES.get(table)
        if spec is None:
            raise StoreError(f"unknown table {table!r}; the tables are {', '.join(TABLES)}")
        return spec

    def _path(self, table: str, rel: str) -> str:
        return f"{self._root}/{table}/{rel}" if rel else f"{self._root}/{table}"

    def _manifest_path(self, table: str) -> str:
        return self._path(table, MANIFEST)

    def _display(self, table: str, rel: str) -> str:
        return self._display_prefix + self._path(table, rel)

    def _list(self, table: str) -> list[tuple[str, int, float]]:
        """(path relative to the table folder, size, mtime) of every file under it."""
        folder = self._path(table, "")
        selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
        found = []
        for info in self._fs.get_file_info(selector):
            if info.is_file:
                mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
                found.append((info.path[len(folder) + 1 :], int(info.size or 0), mtime))
        return found

    def _put_bytes(self, path: str, data: bytes) -> None:
        """Replace ``path`` atomically: readers see the old content or the new, never a part."""
        if not self._local:
            with self._fs.open_output_stream(path) as stream:  # a PUT appears whole or not at all
                stream.write(data)
            return
        folder, name = path.rsplit("/", 1)
        Path(folder).mkdir(parents=True, exist_ok=True)
        temporary = Path(f"{folder}/.{name}.{uuid.uuid4().hex[:12]}.tmp")
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
        _fsync_dir(folder)

    def _put_parquet(self, path: str, rows: pa.Table) -> int:
        options: dict[str, Any] = {
            "compression": "zstd",
            "row_group_size": self.row_group_rows,
            "coerce_timestamps": "ms",
        }
        if not self._local:
            buffer = pa.BufferOutputStream()
            pq.write_table(rows, buffer, **options)
            data = buffer.getvalue()
            with self._fs.open_output_stream(path) as stream:
                stream.write(data)
            return int(data.size)
        # Written under a hidden temporary name, then renamed: a glob for *.parquet never
        # matches a half-written file.
        folder, name = path.rsplit("/", 1)
        Path(folder).mkdir(parents=True, exist_ok=True)
        temporary = Path(f"{folder}/.{name}.tmp")
        pq.write_table(rows, str(temporary), **options)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        temporary.replace(path)
        _fsync_dir(folder)
        return Path(path).stat().st_size

    def _copy(self, source: str, target: str) -> None:
        if self._local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        else:
            self._fs.copy_file(source, target)

    def _delete(self, path: str) -> None:
        try:
            if self._local:
                Path(path).unlink()
            else:
                self._fs.delete_file(path)
        except FileNotFoundError:
            pass
        except OSError as exc:  # left for the next sweep
            log.warning("store: could not delete %s (%s)", path, exc)


class _DamagedManifest(StoreError):
    """The manifest exists but is not one: reads report it, writes refuse to guess."""


class _Unreadable(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.error)
        self.problem = problem


# -- frames ↔ Arrow -------------------------------------------------------------------------------
def _conform(spec: Table, frame: pd.DataFrame | pa.Table) -> pa.Table:
    """``frame`` as an Arrow table of ``spec``'s schema, or a StoreError naming the column."""
    if isinstance(frame, pd.DataFrame):
        names = [str(c) for c in frame.columns]
    elif isinstance(frame, pa.Table):
        names = frame.column_names
    else:
        raise StoreError(
            f"table {spec.name}: expected a pandas DataFrame, got {type(frame).__name__}"
        )
    declared = spec.columns
    missing = [c for c in declared if c not in names]
    unexpected = [c for c in names if c not in declared]
    doubled = sorted({c for c in names if names.count(c) > 1})
    if missing or unexpected or doubled:
        details = [
            f"{label} {', '.join(f'`{c}`' for c in cols)}"
            for label, cols in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("duplicated", doubled),
            )
            if cols
        ]
        raise StoreError(
            f"table {spec.name}: the frame's columns do not match the declared schema "
            f"({'; '.join(details)}); the columns are declared in collectors/schema.py"
        )
    arrays = [
        _column(spec, field, frame[field.name], str(getattr(frame[field.name], "dtype", "")))
        for field in spec.schema
    ]
    batch = pa.Table.from_arrays(arrays, schema=spec.schema)
    for name in dict.fromkeys([*spec.key, spec.time_column]):
        nulls = batch.column(name).null_count
        if nulls:
            what, why = (
                ("key column", "the key identifies the row")
                if name in spec.key
                else ("time column", "the time picks the row's partition")
            )
            raise StoreError(
                f"table {spec.name}: {what} `{name}` has {nulls} null values; every row needs "
                f"one ({why})"
            )
    return batch.combine_chunks()


def _column(spec: Table, field: pa.Field, values: Any, dtype: str) -> pa.ChunkedArray:
    where = f"table {spec.name}: column `{field.name}`"
    target = field.type
    try:
        if isinstance(values, pa.ChunkedArray):
            array = values
        else:
            array = pa.chunked_array([pa.array(values, from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise StoreError(
            f"{where}: expected {target}, got values of dtype {dtype} ({exc})"
        ) from exc
    source = array.type
    if pa.types.is_null(source):
        return pa.chunked_array([pa.nulls(len(array), target)])
    if pa.types.is_dictionary(source):
        source = source.value_type
        array = array.cast(source)
    compatible = {
        "timestamp": pa.types.is_timestamp(source),
        "string": pa.types.is_string(source) or pa.types.is_large_string(source),
        "integer": pa.types.is_integer(source) or pa.types.is_floating(source),
        "floating": pa.types.is_integer(source) or pa.types.is_floating(source),
        "boolean": pa.types.is_boolean(source),
        "list": pa.types.is_list(source) or pa.types.is_large_list(source),
    }[_kind(target)]
    if not compatible:
        raise StoreError(f"{where}: expected {target}, got {source} (dtype {dtype})")
    if pa.types.is_timestamp(target):
        if source.tz is None:
            raise StoreError(
                f"{where}: timestamps are naive; the store keeps UTC, so make them aware "
                "(e.g. .dt.tz_localize('UTC'))"
            )
        # The instants are UTC already whatever the zone; digits below a millisecond are dropped.
        return array.cast(target, safe=False)
    try:
        return array.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise StoreError(f"{where}: {source} values do not fit {target} ({exc})") from exc


def _kind(data_type: pa.DataType) -> str:
    if pa.types.is_timestamp(data_type):
        return "timestamp"
    if pa.types.is_string(data_type):
        return "string"
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type):
        return "floating"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_list(data_type):
        return "list"
    raise NotImplementedError(f"no store conversion for {data_type}")  # pragma: no cover


_LARGE_READ_BYTES = 64 * 2**20


def _with_dictionaries(schema: pa.Schema, names: Sequence[str]) -> pa.Schema:
    """``schema`` with the string columns ``names`` dictionary-encoded."""
    for name in names:
        index = schema.get_field_index(name)
        field = schema.field(index)
        schema = schema.set(index, field.with_type(pa.dictionary(pa.int32(), field.type)))
    return schema


def _to_pandas(arrow: pa.Table) -> pd.DataFrame:
    lists = [field for field in arrow.schema if pa.types.is_list(field.type)]
    # Each column's Arrow buffers are freed as it is converted (the table is not used again),
    # so a large read does not hold both copies at once.
    frame = arrow.to_pandas(types_mapper=_NULLABLE.get, split_blocks=True, self_destruct=True)
    for field in lists:
        frame[field.name] = pd.Series(
            [None if v is None else list(v) for v in frame[field.name]],
            index=frame.index,
            dtype=object,
        )
    return frame


def _columns(spec: Table, columns: Iterable[str] | None) -> list[str]:
    if columns is None:
        return spec.columns
    if isinstance(columns, str):
        columns = [columns]
    wanted = list(dict.fromkeys(columns))
    unknown = [c for c in wanted if c not in spec.columns]
    if unknown:
        raise StoreError(
            f"table {spec.name}: unknown columns {', '.join(unknown)}; "
            f"the columns are {', '.join(spec.columns)}"
        )
    return wanted


def _bound_ms(value: Bound | None, name: str) -> int | None:
    if value is None:
        return None
    return _instant_ms(value, name)


def _instant_ms(value: Any, name: str) -> int:
    if isinstance(value, date) and not isinstance(value, datetime):
        return (value - date(1970, 1, 1)).days * DAY_MS
    try:
        moment = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"{name}: {value!r} is not a point in time") from exc
    if moment is pd.NaT:
        raise StoreError(f"{name}: {value!r} is not a point in time")
    if moment.tzinfo is None:
        raise StoreError(
            f"{name}: {value!r} is naive; the store keeps UTC, so pass an aware time "
            "(e.g. '2024-05-01T00:00Z' or datetime(..., tzinfo=UTC))"
        )
    return int(moment.value) // 1_000_000  # .value is nanoseconds whatever the unit


def _expression(
    spec: Table, low: int | None, high: int | None, filters: Mapping[str, Any] | None
) -> ds.Expression | None:
    terms: list[ds.Expression] = []
    time_field = ds.field(spec.time_column)
    if low is not None:
        terms.append(time_field >= pa.scalar(low, type=pa.int64()).cast(_time_type(spec)))
    if high is not None:
        terms.append(time_field < pa.scalar(high, type=pa.int64()).cast(_time_type(spec)))
    for name, value in (filters or {}).items():
        _columns(spec, [name])
        terms.append(_filter_term(spec, spec.schema.field(name), value))
    if not terms:
        return None
    expression = terms[0]
    for term in terms[1:]:
        expression = expression & term
    return expression


def _time_type(spec: Table) -> pa.DataType:
    return spec.schema.field(spec.time_column).type


def _filter_term(spec: Table, field: pa.Field, value: Any) -> ds.Expression:
    where = f"table {spec.name}: filter on `{field.name}`"
    if pa.types.is_list(field.type):
        raise StoreError(f"{where}: list columns cannot be filtered; filter the frame instead")
    column = ds.field(field.name)
    if value is None:
        return column.is_null()
    many = isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series, pd.Index))
    values = list(value) if many else [value]
    if any(v is None for v in values):
        rest = [v for v in values if v is not None]
        term = column.is_null()
        return term | _filter_term(spec, field, rest) if rest else term
    try:
        if pa.types.is_timestamp(field.type):
            typed = pa.array([_instant_ms(v, where) for v in values], type=pa.int64()).cast(
                field.type
            )
        elif pa.types.is_string(field.type) and not all(isinstance(v, str) for v in values):
            raise TypeError("expected strings")
        else:
            typed = pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        raise StoreError(f"{where}: {value!r} is not a {field.type} ({exc})") from exc
    if not many:
        return column == typed[0]
    return column.isin(typed)


# -- merging --------------------------------------------------------------------------------------
def _ms(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _key_ranges(spec: Table, rows: pa.Table) -> tuple[tuple[str, str, str], ...]:
    if spec.time_column in spec.key or not rows.num_rows:
        return ()
    ranges = []
    for name in spec.key:
        column = rows.column(name)
        if pa.types.is_string(column.type):
            extremes = pc.min_max(column)
            ranges.append((name, extremes["min"].as_py(), extremes["max"].as_py()))
    return tuple(ranges)


def _day_name(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _dedupe(batch: pa.Table, key: Sequence[str]) -> pa.Table:
    """``batch`` with one row per key: the last one given wins."""
    index = pa.array(np.arange(batch.num_rows, dtype=np.int64))
    grouped = (
        batch.select(list(key))
        .append_column("__row", index)
        .group_by(list(key), use_threads=False)
        .aggregate([("__row", "max")])
    )
    if grouped.num_rows == batch.num_rows:
        return batch
    return batch.take(np.sort(grouped.column("__row_max").to_numpy()))


def _anti_join(old: pa.Table, keys: pa.Table, key: Sequence[str]) -> pa.Table:
    """The rows of ``old`` whose key is not among ``keys``."""
    left = old.select(list(key)).append_column(
        "__row", pa.array(np.arange(old.num_rows, dtype=np.int64))
    )
    kept = left.join(keys, keys=list(key), join_type="left anti")
    if kept.num_rows == old.num_rows:
        return old
    return old.take(np.sort(kept.column("__row").to_numpy()))


def _key_order(rows: pa.Table, key: Sequence[str]) -> np.ndarray:
    """Indices sorting ``rows`` by ``key``: each column ranked through its dictionary, then one
    integer sort (pyarrow's multi-column string sort is several times slower)."""
    codes: list[np.ndarray] = []
    cardinalities: list[int] = []
    for name in key:
        encoded = pc.dictionary_encode(rows.column(name).combine_chunks())
        order = pc.sort_indices(encoded.dictionary).to_numpy()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        codes.append(rank[encoded.indices.to_numpy()])
        cardinalities.append(max(len(order), 1))
    if math.prod(cardinalities) < 2**62:
        composite = np.zeros(rows.num_rows, dtype=np.int64)
        for code, cardinality in zip(codes, cardinalities, strict=True):
            composite = composite * cardinality + code
        return np.argsort(composite)  # keys are unique: no ties to keep stable
    return np.lexsort(codes[::-1])


def _sorted(rows: pa.Table, key: Sequence[str]) -> pa.Table:
    return rows.take(_key_order(rows, key)) if rows.num_rows > 1 else rows


def _file_order(spec: Table) -> tuple[str, ...]:
    """The order of rows in a file: by key, resource first where the table has one, so that
    the row groups' statistics let a read for one resource skip the others."""
    if "resource" in spec.columns and "resource" not in spec.key:
        return ("resource", *spec.key)
    return spec.key


def _same_rows(a: pa.Table, b: pa.Table, key: Sequence[str]) -> bool:
    return bool(_sorted(a, key).equals(_sorted(b, key)))


def _chunks(rows: pa.Table, spec: Table, max_rows: int) -> Iterator[pa.Table]:
    """``rows`` in files of at most ``max_rows``, split by time and each sorted by key.

    One file's rows at a time, taken straight from ``rows``: a large write never holds a second
    copy of the whole partition (the time order is an index, not a reordered table).
    """
    count = math.ceil(rows.num_rows / max_rows)
    if count <= 1:
        yield _sorted(rows, _file_order(spec))
        return
    by_time = np.argsort(_ms(rows.column(spec.time_column)), kind="stable")
    bounds = np.linspace(0, rows.num_rows, count + 1).astype(np.int64)
    for a, b in itertools.pairwise(bounds):
        yield _sorted(rows.take(by_time[int(a) : int(b)]), _file_order(spec))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _fsync_dir(folder: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
