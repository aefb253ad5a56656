"""The state database (SQLite) and the run lock. The only module that runs SQL.

Tables:

``schema_versions``  one row per component (``scan``, later ``journal``...) and the version of
                     its tables; :meth:`StateDB.ensure_schema` applies a component's missing
                     migrations in order, each in one transaction.
``watermarks``       per (device, location): the newest ``receive_time`` an incremental scan read
                     and the ids of the entries it read at exactly that second. The next scan asks
                     for ``receive_time geq WATERMARK`` and drops those ids, so an entry written in
                     the boundary second after the last scan is still read, and none twice.
``evidence_daily``   per (device, location, day, host): hits, clients, alerts, apps... so
                     thresholds can use a window (``7d``) across runs.
``runs``             one row per incremental scan: start, end, device, logs read, result.
``changes``          the change journal (:mod:`panpin.change.journal` gives its rows meaning): one row
                     per change, written before its commit starts, with the list as it was.

Never holds credentials: devices are named by serial (or the caller's key), nothing else.
WAL mode lets ``history`` read while a run writes. The file and its directory are private to the
user (clients, users and hosts of the network are in it).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from panpin import errors
from panpin.scan.evidence import Candidate, merge_candidates

Migration = tuple[str, ...]

SCAN_COMPONENT = "scan"
# Each migration is a list of statements run in one transaction; append, never edit.
SCAN_MIGRATIONS: tuple[Migration, ...] = (
    (
        """CREATE TABLE IF NOT EXISTS watermarks (
            device       TEXT NOT NULL,
            location     TEXT NOT NULL,
            receive_time TEXT NOT NULL,
            seen_ids     TEXT NOT NULL,
            query        TEXT NOT NULL DEFAULT '',
            updated      TEXT NOT NULL,
            PRIMARY KEY (device, location)
        )""",
        """CREATE TABLE IF NOT EXISTS evidence_daily (
            device     TEXT NOT NULL,
            location   TEXT NOT NULL,
            day        TEXT NOT NULL,
            host       TEXT NOT NULL,
            hits       INTEGER NOT NULL,
            clients    TEXT NOT NULL,
            errors     TEXT NOT NULL,
            apps       TEXT NOT NULL,
            devices    TEXT NOT NULL,
            users      TEXT NOT NULL,
            rules      TEXT NOT NULL,
            samples    TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen  TEXT NOT NULL,
            PRIMARY KEY (device, location, day, host)
        )""",
        """CREATE TABLE IF NOT EXISTS runs (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            device    TEXT NOT NULL,
            location  TEXT NOT NULL,
            started   TEXT NOT NULL,
            finished  TEXT,
            logs_read INTEGER NOT NULL DEFAULT 0,
            result    TEXT NOT NULL,
            detail    TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX IF NOT EXISTS runs_by_device ON runs (device, started)",
    ),
    # 2: evidence per cause (panpin.scan.causes). Rows written before counted every alert as
    # pinning (GlobalProtect, server alerts, untrusted servers...), so they cannot be trusted:
    # they and the watermarks go, and the next incremental scan reads the whole window again.
    (
        "ALTER TABLE evidence_daily ADD COLUMN causes TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE evidence_daily ADD COLUMN issuer_urls TEXT NOT NULL DEFAULT '[]'",
        "DELETE FROM evidence_daily",
        "DELETE FROM watermarks",
    ),
)

JOURNAL_COMPONENT = "journal"
# The change journal (panpin.change.journal): one row per change, written before the commit starts.
# Migration 1 is the table as the first journal created it, so an existing file adopts it as is.
JOURNAL_MIGRATIONS: tuple[Migration, ...] = (
    (
        """CREATE TABLE IF NOT EXISTS changes (
            change_id   TEXT PRIMARY KEY,
            kind        TEXT NOT NULL,
            rollback_of TEXT,
            device      TEXT NOT NULL,
            host        TEXT NOT NULL,
            serial      TEXT NOT NULL,
            location    TEXT NOT NULL,
            admin       TEXT NOT NULL,
            started     TEXT NOT NULL,
            finished    TEXT,
            result      TEXT NOT NULL,
            job_id      TEXT,
            adds        TEXT NOT NULL,
            removes     TEXT NOT NULL,
            base        TEXT NOT NULL,
            detail      TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX IF NOT EXISTS changes_by_device ON changes(device, started)",
    ),
    (
        # What decided each add (rule and rule digest per entry) and the policy's default
        # expiry: a rollback's hold is tied to that rule and lasts that long.
        "ALTER TABLE changes ADD COLUMN decided TEXT NOT NULL DEFAULT '{}'",
        # Entries a rollback removed, kept out of later runs until released, expired or until
        # the rule that allowed them changes (panpin.decide.engine.Hold).
        """CREATE TABLE IF NOT EXISTS holds (
            device      TEXT NOT NULL,
            location    TEXT NOT NULL,
            entry       TEXT NOT NULL,
            rule        TEXT,
            rule_sha256 TEXT,
            until       TEXT NOT NULL,
            change_id   TEXT NOT NULL,
            rollback_of TEXT NOT NULL,
            created     TEXT NOT NULL,
            ended       TEXT,
            ended_why   TEXT,
            PRIMARY KEY (device, location, entry)
        )""",
    ),
)
# The columns a journal row is written with when a change starts (finished, job_id and detail
# come later, from journal_finish).
JOURNAL_START_COLUMNS = (
    "change_id",
    "kind",
    "rollback_of",
    "device",
    "host",
    "serial",
    "location",
    "admin",
    "started",
    "adds",
    "removes",
    "base",
    "decided",
)

# The boundary second rarely holds more than a few entries; a flood of one-second entries must not
# make the watermark row unbounded, so past this many ids only the newest are kept (an older one
# could then be read twice at worst, never lost).
MAX_SEEN_IDS = 20_000

# `PRAGMA journal_mode = WAL` gets no busy wait while another connection holds a lock, so the
# threads of a fleet run opening a new state file at once could fail with "database is locked".
# First-time schema setup is rare and quick: one lock per process serialises it.
_SCHEMA_LOCK = threading.Lock()


@dataclass(frozen=True)
class Watermark:
    """The newest ``receive_time`` read, and the ids of the entries read at exactly that second."""

    receive_time: str
    seen_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RunRecord:
    id: int
    device: str
    location: str
    started: str
    finished: str | None
    logs_read: int
    result: str
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "device": self.device,
            "location": self.location,
            "started": self.started,
            "finished": self.finished,
            "logs_read": self.logs_read,
            "result": self.result,
            "detail": self.detail,
        }


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def _private_dir(path: Path) -> None:
    if path.is_dir():
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise errors.SettingsError(
            f"state folder {path}: cannot create it: {exc.strerror or exc}"
        ) from None


class StateDB:
    """The state database at ``path`` (created with its directory on first use).

    Every method opens its own short connection, so one instance can be shared by the threads of
    a fleet run; methods that write accept ``db=`` to join a caller's :meth:`transaction`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = resolve_state(path)
        self._ready: set[str] = set()

    # --- connections ---------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        _private_dir(self.path.parent)
        created = not self.path.exists()
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implied.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise errors.StateError(f"state database {self.path}: {exc}") from None
        if created:
            os.chmod(self.path, 0o600)
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("PRAGMA foreign_keys = ON")
        return db

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection with the scan tables migrated; closed on exit (autocommit mode).

        A database error while it is used (disk full, a damaged page) is a :class:`StateError`.
        """
        self.ensure_schema(SCAN_COMPONENT, SCAN_MIGRATIONS)
        db = self._open()
        try:
            yield db
        except sqlite3.Error as exc:
            raise errors.StateError(f"state database {self.path}: {exc}") from None
        finally:
            db.close()

    def check_writable(self) -> None:
        """Open the database, bring the journal's tables up to date and try a write (rolled back).

        Run before a change takes the device's config lock, so that a state path that cannot be
        written fails as bad input (exit 2) while nothing on the device is held yet.
        """
        try:
            self.ensure_schema(JOURNAL_COMPONENT, JOURNAL_MIGRATIONS)
            db = self._open()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("UPDATE schema_versions SET updated = updated")
                db.execute("ROLLBACK")
            finally:
                db.close()
        except (sqlite3.Error, OSError, errors.StateError) as exc:
            raise errors.SettingsError(f"state database {self.path}: cannot write: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception)."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def ensure_schema(self, component: str, migrations: Sequence[Migration]) -> int:
        """Bring ``component``'s tables to ``len(migrations)``; returns that version.

        Other modules (the change journal) call this with their own component name and list.
        A database newer than this panpin is refused rather than written with an old schema.
        """
        if component in self._ready:
            return len(migrations)
        with _SCHEMA_LOCK:
            return self._ensure_schema_locked(component, migrations)

    def _ensure_schema_locked(self, component: str, migrations: Sequence[Migration]) -> int:
        if component in self._ready:
            return len(migrations)
        db = self._open()
        try:
            # WAL survives in the file; setting it needs no transaction and is idempotent.
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions ("
                "component TEXT PRIMARY KEY, version INTEGER NOT NULL, updated TEXT NOT NULL)"
            )
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT version FROM schema_versions WHERE component = ?", (component,)
                ).fetchone()
                version = int(row[0]) if row else 0
                if version > len(migrations):
                    raise errors.SettingsError(
                        f"state database {self.path}: {component} schema version {version} is "
                        f"newer than this panpin knows ({len(migrations)}); upgrade panpin"
                    )
                for statements in migrations[version:]:
                    for statement in statements:
                        db.execute(statement)
                db.execute(
                    "INSERT INTO schema_versions (component, version, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version, "
                    "updated = excluded.updated",
                    (component, len(migrations), _now()),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise errors.StateError(f"state database {self.path}: {exc}") from None
        finally:
            db.close()
        self._ready.add(component)
        return len(migrations)

    def schema_version(self, component: str = SCAN_COMPONENT) -> int:
        with self.connect() as db:
            row = db.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (component,)
            ).fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _use(self, db: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        if db is not None:
            yield db
        else:
            with self.transaction() as own:
                yield own

    # --- watermarks ----------------------------------------------------------------------------

    def watermark(self, device: str, location: str) -> Watermark | None:
        """The stored watermark of ``device`` at ``location``; ``None`` before the first run."""
        with self.connect() as db:
            row = db.execute(
                "SELECT receive_time, seen_ids FROM watermarks WHERE device = ? AND location = ?",
                (device, location),
            ).fetchone()
        if row is None:
            return None
        return Watermark(str(row[0]), frozenset(json.loads(row[1])))

    def set_watermark(
        self,
        device: str,
        location: str,
        watermark: Watermark,
        *,
        query: str = "",
        db: sqlite3.Connection | None = None,
    ) -> None:
        ids = sorted(watermark.seen_ids)[-MAX_SEEN_IDS:]
        with self._use(db) as conn:
            conn.execute(
                "INSERT INTO watermarks (device, location, receive_time, seen_ids, query, updated) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(device, location) DO UPDATE SET "
                "receive_time = excluded.receive_time, seen_ids = excluded.seen_ids, "
                "query = excluded.query, updated = excluded.updated",
                (device, location, watermark.receive_time, json.dumps(ids), query, _now()),
            )

    # --- evidence ------------------------------------------------------------------------------

    def add_evidence(
        self,
        device: str,
        location: str,
        daily: Iterable[tuple[str, Candidate]],
        *,
        db: sqlite3.Connection | None = None,
    ) -> int:
        """Fold ``(day, candidate)`` pairs into the per-day history; returns rows touched."""
        touched = 0
        with self._use(db) as conn:
            for day, cand in daily:
                row = conn.execute(_SELECT_DAY, (device, location, day, cand.host)).fetchone()
                merged = cand
                if row is not None:
                    merged = merge_candidates([_candidate(row), cand])[0]
                conn.execute(
                    "INSERT OR REPLACE INTO evidence_daily (device, location, day, host, hits, "
                    "clients, errors, apps, devices, users, rules, samples, first_seen, last_seen, "
                    "causes, issuer_urls) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        device,
                        location,
                        day,
                        merged.host,
                        merged.hits,
                        json.dumps(list(merged.clients)),
                        json.dumps(merged.errors, sort_keys=True),
                        json.dumps(list(merged.apps)),
                        json.dumps(list(merged.devices)),
                        json.dumps(list(merged.users)),
                        json.dumps(list(merged.rules)),
                        json.dumps(list(merged.sample_log_ids)),
                        merged.first_seen,
                        merged.last_seen,
                        json.dumps(merged.causes, sort_keys=True),
                        json.dumps(list(merged.issuer_urls)),
                    ),
                )
                touched += 1
        return touched

    def evidence_window(
        self, device: str, since: str, *, location: str = "shared"
    ) -> list[Candidate]:
        """Evidence of ``device`` from the day of ``since`` (``YYYY/MM/DD[ HH:MM:SS]``) on.

        Days are whole days: a ``7d`` window ending mid-day includes all of its first day.
        Candidates are merged across days and sorted by hits, then host; ``covered_by`` is unset.
        """
        day = since.strip()[:10]
        with self.connect() as db:
            rows = db.execute(_SELECT_SINCE, (device, location, day)).fetchall()
            candidates = [_candidate(r) for r in rows]
        return list(merge_candidates(candidates))

    def timeline(
        self, device: str, since: str, *, location: str = "shared"
    ) -> dict[str, list[tuple[str, int]]]:
        """Pinning hits per host and day from the day of ``since`` on (the plan's chart)."""
        from panpin.scan.evidence import timeline_of

        day = since.strip()[:10]
        with self.connect() as db:
            rows = db.execute(_SELECT_SINCE, (device, location, day)).fetchall()
        return timeline_of(
            (c.host, str(r[2]), c.hits) for r, c in ((r, _candidate(r)) for r in rows)
        )

    def prune_evidence(self, before_day: str, *, db: sqlite3.Connection | None = None) -> int:
        """Drop daily evidence older than ``before_day`` (``YYYY/MM/DD``); returns rows dropped."""
        with self._use(db) as conn:
            cursor = conn.execute("DELETE FROM evidence_daily WHERE day < ?", (before_day[:10],))
            return int(cursor.rowcount)

    # --- runs ----------------------------------------------------------------------------------

    def start_run(self, device: str, location: str) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (device, location, started, result) VALUES (?, ?, ?, 'running')",
                (device, location, _now()),
            )
            return int(cursor.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        *,
        logs_read: int,
        result: str,
        detail: str = "",
        db: sqlite3.Connection | None = None,
    ) -> None:
        with self._use(db) as conn:
            conn.execute(
                "UPDATE runs SET finished = ?, logs_read = ?, result = ?, detail = ? WHERE id = ?",
                (_now(), logs_read, result, detail[:2000], run_id),
            )

    def runs(self, device: str | None = None) -> list[RunRecord]:
        query = "SELECT * FROM runs"
        args: tuple[str, ...] = ()
        if device is not None:
            query += " WHERE device = ?"
            args = (device,)
        with self.connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        return [
            RunRecord(
                id=r["id"],
                device=r["device"],
                location=r["location"],
                started=r["started"],
                finished=r["finished"],
                logs_read=r["logs_read"],
                result=r["result"],
                detail=r["detail"],
            )
            for r in rows
        ]

    # --- lock ----------------------------------------------------------------------------------

    # --- change journal (rows for panpin.change.journal) -------------------------------------------------

    @contextmanager
    def _journal(self) -> Iterator[sqlite3.Connection]:
        self.ensure_schema(JOURNAL_COMPONENT, JOURNAL_MIGRATIONS)
        with self.transaction() as db:
            yield db

    def journal_start(self, row: dict[str, object]) -> None:
        """Write (or rewrite) a change's row with result ``started``; keys: JOURNAL_START_COLUMNS."""
        values = tuple(row[name] for name in JOURNAL_START_COLUMNS)
        columns = ", ".join(JOURNAL_START_COLUMNS)
        marks = ", ".join("?" for _ in JOURNAL_START_COLUMNS)
        with self._journal() as db:
            db.execute(
                f"INSERT OR REPLACE INTO changes ({columns}, finished, result, job_id, detail) "  # noqa: S608
                f"VALUES ({marks}, NULL, 'started', NULL, '')",
                values,
            )

    def journal_finish(
        self, change_id: str, result: str, *, job_id: str | None, detail: str
    ) -> None:
        """Set a change's result, end time, job (when given) and detail (cut to 2000 chars)."""
        with self._journal() as db:
            db.execute(
                "UPDATE changes SET result = ?, finished = ?, job_id = COALESCE(?, job_id), "
                "detail = ? WHERE change_id = ?",
                (result, _now(), job_id, detail[:2000], change_id),
            )

    def journal_rows(
        self,
        *,
        device: str | None = None,
        change_id: str | None = None,
        results: Sequence[str] = (),
    ) -> list[dict[str, object]]:
        """Journal rows (column → value), oldest first, filtered by what is given."""
        where: list[str] = []
        args: list[str] = []
        if device:
            where.append("device = ?")
            args.append(device)
        if change_id is not None:
            where.append("change_id = ?")
            args.append(change_id)
        if results:
            where.append(f"result IN ({', '.join('?' for _ in results)})")
            args.extend(results)
        return self._journal_select("changes", where, args, "started, change_id")

    def _journal_select(
        self, table: str, where: Sequence[str], args: Sequence[str], order: str
    ) -> list[dict[str, object]]:
        """Rows (column → value) of a journal table: the conditions ANDed, in ``order``."""
        query = f"SELECT * FROM {table}"  # noqa: S608 (table and conditions are panpin's own)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += f" ORDER BY {order}"
        self.ensure_schema(JOURNAL_COMPONENT, JOURNAL_MIGRATIONS)
        with self.connect() as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(query, args).fetchall()]

    # --- rollback holds (panpin.decide.engine.Hold) -----------------------------------------------

    def add_holds(self, rows: Iterable[dict[str, str | None]]) -> None:
        """Record (or renew) holds; keys: device, location, entry, rule, rule_sha256, until,
        change_id, rollback_of. A new hold on an entry replaces an older, ended one."""
        with self._journal() as db:
            for row in rows:
                db.execute(
                    "INSERT OR REPLACE INTO holds (device, location, entry, rule, rule_sha256, "
                    "until, change_id, rollback_of, created, ended, ended_why) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                    (
                        row["device"],
                        row["location"],
                        row["entry"],
                        row["rule"],
                        row["rule_sha256"],
                        row["until"],
                        row["change_id"],
                        row["rollback_of"],
                        _now(),
                    ),
                )

    def holds(
        self, *, device: str | None = None, location: str | None = None, open_only: bool = True
    ) -> list[dict[str, object]]:
        """Hold rows (column → value) by device and entry; ``open_only``: not yet ended."""
        where: list[str] = []
        args: list[str] = []
        if device is not None:
            where.append("device = ?")
            args.append(device)
        if location is not None:
            where.append("location = ?")
            args.append(location)
        if open_only:
            where.append("ended IS NULL")
        return self._journal_select("holds", where, args, "device, location, entry")

    def end_hold(self, device: str, location: str, entry: str, why: str) -> bool:
        """End an open hold; False when there was none."""
        with self._journal() as db:
            cursor = db.execute(
                "UPDATE holds SET ended = ?, ended_why = ? WHERE device = ? AND location = ? "
                "AND entry = ? COLLATE NOCASE AND ended IS NULL",
                (_now(), why, device, location, entry),
            )
            return cursor.rowcount > 0

    def lock(self) -> AbstractContextManager[None]:
        """The run lock of this database (see :func:`run_lock`)."""
        return run_lock(self.path)


_EVIDENCE_COLUMNS = (
    "device",
    "location",
    "day",
    "host",
    "hits",
    "clients",
    "errors",
    "apps",
    "devices",
    "users",
    "rules",
    "samples",
    "first_seen",
    "last_seen",
    "causes",
    "issuer_urls",
)


_SELECT = ", ".join(_EVIDENCE_COLUMNS)
# Only the constant column list is formatted into these; every value is a bound parameter.
_SELECT_DAY = (
    f"SELECT {_SELECT} FROM evidence_daily "  # noqa: S608
    "WHERE device = ? AND location = ? AND day = ? AND host = ?"
)
_SELECT_SINCE = (
    f"SELECT {_SELECT} FROM evidence_daily "  # noqa: S608
    "WHERE device = ? AND location = ? AND day >= ? ORDER BY day, host"
)


def _candidate(row: Sequence[Any]) -> Candidate:
    r = dict(zip(_EVIDENCE_COLUMNS, row, strict=True))
    return Candidate(
        host=str(r["host"]),
        hits=int(r["hits"]),
        clients=tuple(json.loads(r["clients"])),
        errors={str(k): int(v) for k, v in json.loads(r["errors"]).items()},
        apps=tuple(json.loads(r["apps"])),
        first_seen=str(r["first_seen"]),
        last_seen=str(r["last_seen"]),
        devices=tuple(json.loads(r["devices"])),
        users=tuple(json.loads(r["users"])),
        rules=tuple(json.loads(r["rules"])),
        sample_log_ids=tuple(json.loads(r["samples"])),
        causes={str(k): int(v) for k, v in json.loads(r["causes"]).items()},
        issuer_urls=tuple(json.loads(r["issuer_urls"])),
    )


def resolve_state(state: str | Path) -> Path:
    """The state database's real path: two names for one file (a symlink) share one run lock."""
    return Path(state).expanduser().resolve()


def lock_path(state: str | Path) -> Path:
    return Path(str(resolve_state(state)) + ".lock")


@contextmanager
def run_lock(state: str | Path) -> Iterator[None]:
    """Hold the run lock ``<state>.lock`` for the block, or raise :class:`RunLocked` (exit 5).

    Non-blocking: a second panpin run on the same state exits at once instead of queueing behind
    the first (cron would pile them up). The lock is an ``flock``, so the kernel releases it when
    the holder dies, even by SIGKILL: a stale lock file never blocks the next run.
    """
    import filelock

    path = lock_path(state)
    _private_dir(path.parent)
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise errors.RunLocked(
            f"another panpin run holds {path}; try again when it has finished"
        ) from None
    except OSError as exc:
        raise errors.SettingsError(
            f"run lock {path}: cannot create it: {exc.strerror or exc}"
        ) from None
    try:
        yield
    finally:
        lock.release()
