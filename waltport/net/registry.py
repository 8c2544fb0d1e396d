"""The device registry of a bench server: SQLite (WAL) in the lab's state dir.

Writers are the DHCP server (leases, commits) and the boot-notification
listener; readers are ``waltport devices``, the TFTP layout and other stages.
Every write is one ``BEGIN IMMEDIATE`` transaction, so a reader sees a commit
whole or not at all, from any thread or process.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from waltport.errors import WaltportError
from waltport.profile.model import is_model_name
from waltport.walt import WALT_PREFIX

log = logging.getLogger("waltport.net.registry")

# An OFFER binds nothing: unconfirmed after this long, its address is free again.
OFFER_TTL = 20.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (mac TEXT PRIMARY KEY, ip TEXT UNIQUE NOT NULL, time REAL);
CREATE TABLE IF NOT EXISTS offers (mac TEXT PRIMARY KEY, ip TEXT UNIQUE NOT NULL, expires REAL);
CREATE TABLE IF NOT EXISTS devices (
  mac TEXT PRIMARY KEY, ip TEXT, type TEXT NOT NULL, model TEXT, name TEXT NOT NULL,
  vci TEXT, uci TEXT, hostname TEXT, first_seen REAL, last_seen REAL);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL, mac TEXT,
  ip TEXT, type TEXT, model TEXT, vci TEXT, uci TEXT, hostname TEXT);
"""


class RegistryError(WaltportError):
    """The registry database cannot be used."""


@dataclass(frozen=True)
class Device:
    """A device the server has seen commit a lease: ``type`` is ``node`` or ``unknown``."""

    mac: str
    ip: str | None
    type: str
    model: str | None
    name: str
    vci: str | None
    uci: str | None
    hostname: str | None
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class Event:
    """One registry event: ``dhcp-commit``, ``registered``, ``became-node`` or ``booted``."""

    time: float
    kind: str
    mac: str | None
    ip: str | None
    type: str | None
    model: str | None
    vci: str | None
    uci: str | None
    hostname: str | None


def classify(vci: str | None, uci: str | None) -> tuple[str, str | None]:
    """WalT's rule: the user class first, then the VCI, else ``unknown``.

    Only a model in WalT's alphabet makes a node: the model names a directory
    (``boot/<model>``) the TFTP server serves, so ``walt.node...`` or
    ``walt.node.../../x`` is an unknown device, not a node.
    """
    for ident in (uci, vci):
        if ident and ident.startswith(WALT_PREFIX) and is_model_name(ident[len(WALT_PREFIX):]):
            return "node", ident[len(WALT_PREFIX):]
    return "unknown", None


def default_name(dev_type: str, model: str | None, mac: str) -> str:
    """A WalT-like default name: ``<model or unknown>-<last 3 MAC bytes>``."""
    return f"{model or dev_type}-{mac.replace(':', '')[-6:]}"


class Registry:
    """Read API (``devices``, ``events``, ``node_for``) and the server's write API."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Closed explicitly: a sqlite3 connection sits in a reference cycle
            # (its statement cache) and would stay open until the cyclic GC, so
            # the TFTP workers forked next would inherit it; the copy, closed
            # later in a child that holds none of the parent's POSIX locks, may
            # checkpoint and drop the WAL under the other processes ("database
            # disk image is malformed" under a boot storm).
            db = self._connect()
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
            finally:
                db.close()
        except (OSError, sqlite3.Error) as err:
            raise RegistryError(f"cannot open registry {self.path}: {err}") from err

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=15, isolation_level=None)
        db.execute("PRAGMA busy_timeout=15000")
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:  # type: ignore[type-arg]
        db = self._connect()
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise RegistryError(f"registry {self.path}: {err}") from err
        finally:
            db.close()

    # -- read API ---------------------------------------------------------
    def devices(self) -> list[Device]:
        """Every registered device, by IP address order."""
        rows = self._read("SELECT mac, ip, type, model, name, vci, uci, hostname, first_seen, "
                          "last_seen FROM devices ORDER BY first_seen, mac")
        return [Device(*r) for r in rows]

    def events(self, mac: str | None = None) -> list[Event]:
        """Events in the order they happened, optionally of one MAC."""
        sql = "SELECT time, kind, mac, ip, type, model, vci, uci, hostname FROM events"
        rows = self._read(sql + (" WHERE mac = ? ORDER BY id" if mac else " ORDER BY id"),
                          (mac.lower(),) if mac else ())
        return [Event(*r) for r in rows]

    def lease_of(self, mac: str) -> str | None:
        rows = self._read("SELECT ip FROM leases WHERE mac = ?", (mac,))
        return rows[0][0] if rows else None

    def node_for(self, key: str) -> Device | None:
        """The node reachable as ``nodes/<key>``: key is an IP, a MAC (``:`` or ``-``) or a name."""
        mac = key.replace("-", ":").lower()
        rows = self._read("SELECT mac, ip, type, model, name, vci, uci, hostname, first_seen, "
                          "last_seen FROM devices WHERE type = 'node' AND "
                          "(ip = ? OR mac = ? OR name = ?)", (key, mac, key))
        return Device(*rows[0]) if rows else None

    # -- write API (the server) ------------------------------------------
    def offer(self, mac: str, pool: Sequence[str], *, wanted: str | None = None,
              now: float | None = None) -> str | None:
        """The address for ``mac``: its lease, else its pending offer, else ``wanted`` or
        another address that is free; None when every address is a registered node's.

        Nothing is leased here (a lease is made by :meth:`commit`, on a REQUEST
        that is acknowledged): the address is only reserved for ``OFFER_TTL``
        seconds.  When none is free, the oldest pending offer of another client
        is taken over, then the oldest lease of a device that is not a
        registered node: a flood of DISCOVERs from made-up MACs cannot leave
        real nodes without an answer, and registered nodes keep their address.
        """
        t = now or time.time()
        with self._write() as db:
            db.execute("DELETE FROM offers WHERE expires < ?", (t,))
            row = db.execute("SELECT ip FROM leases WHERE mac = ?", (mac,)).fetchone() or \
                db.execute("SELECT ip FROM offers WHERE mac = ?", (mac,)).fetchone()
            if row:
                # Not renewed: one more write (an fsync) per REQUEST made DHCP ~15 %
                # slower in a 50-client storm (docs/benchmarks.md); the TTL outlasts
                # any real handshake anyway.
                return str(row[0])
            ip = self._free(db, mac, pool, wanted)
            if ip is not None:
                db.execute("INSERT INTO offers VALUES (?, ?, ?)", (mac, ip, t + OFFER_TTL))
        return ip

    @staticmethod
    def _free(db: sqlite3.Connection, mac: str, pool: Sequence[str],
              wanted: str | None) -> str | None:
        """A free address of ``pool`` (``wanted`` first), reclaiming one when none is."""
        taken = {r[0] for r in db.execute("SELECT ip FROM leases UNION SELECT ip FROM offers")}
        if wanted in pool and wanted not in taken:
            return wanted
        free = next((ip for ip in pool if ip not in taken), None)
        if free is not None:
            return free
        pool_set = set(pool)
        row = next((r for r in db.execute("SELECT mac, ip FROM offers WHERE mac != ? "
                                          "ORDER BY expires", (mac,)) if r[1] in pool_set),
                   None)
        if row is not None:
            db.execute("DELETE FROM offers WHERE mac = ?", (row[0],))
            log.info("dhcp pool full: offer of %s to %s taken over", row[1], row[0])
            return str(row[1])
        rows = db.execute("SELECT l.mac, l.ip FROM leases l LEFT JOIN devices d ON d.mac = l.mac "
                          "WHERE d.type IS NOT 'node' ORDER BY l.time")
        row = next((r for r in rows if r[1] in pool_set), None)
        if row is not None:
            db.execute("DELETE FROM leases WHERE mac = ?", (row[0],))
            log.info("dhcp pool full: lease of %s to unregistered %s reclaimed", row[1], row[0])
            return str(row[1])
        return None

    def commit(self, mac: str, ip: str, vci: str | None, uci: str | None, *,
               hostname: str | None = None, now: float | None = None) -> list[Event]:
        """Record a lease commit and apply WalT's registration rule; returns the new events."""
        t = now or time.time()
        dev_type, model = classify(vci, uci)
        new: list[Event] = [Event(t, "dhcp-commit", mac, ip, dev_type, model, vci, uci, hostname)]
        with self._write() as db:
            # The lease is made here, on the acknowledged REQUEST, never on a DISCOVER.
            db.execute("DELETE FROM offers WHERE mac = ? OR ip = ?", (mac, ip))
            db.execute("INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT(mac) DO UPDATE SET "
                       "ip = excluded.ip, time = excluded.time", (mac, ip, t))
            row = db.execute("SELECT type FROM devices WHERE mac = ?", (mac,)).fetchone()
            if row is None:
                db.execute("INSERT INTO devices VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (mac, ip, dev_type, model, default_name(dev_type, model, mac),
                            vci, uci, hostname, t, t))
                new.append(Event(t, "registered", mac, ip, dev_type, model, vci, uci, hostname))
            elif row[0] == "unknown" and dev_type == "node":
                db.execute("UPDATE devices SET type=?, model=?, name=?, ip=?, vci=?, uci=?, "
                           "hostname=?, last_seen=? WHERE mac=?",
                           (dev_type, model, default_name(dev_type, model, mac), ip, vci, uci,
                            hostname, t, mac))
                new.append(Event(t, "became-node", mac, ip, dev_type, model, vci, uci, hostname))
            else:
                db.execute("UPDATE devices SET ip=?, last_seen=? WHERE mac=?", (ip, t, mac))
            for e in new:
                self._insert_event(db, e)
        return new

    def record_booted(self, model: str, mac: str, ip: str, now: float | None = None) -> Event:
        """Record a boot notification from a node's initramfs."""
        e = Event(now or time.time(), "booted", mac, ip, "node", model, None, None, None)
        with self._write() as db:
            self._insert_event(db, e)
        return e

    @staticmethod
    def _insert_event(db: sqlite3.Connection, e: Event) -> None:
        db.execute("INSERT INTO events (time, kind, mac, ip, type, model, vci, uci, hostname) "
                   "VALUES (?,?,?,?,?,?,?,?,?)",
                   (e.time, e.kind, e.mac, e.ip, e.type, e.model, e.vci, e.uci, e.hostname))
