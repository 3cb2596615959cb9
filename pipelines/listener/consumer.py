"""The listener's consumer name: stable per host and slot, held by one live process at a time.

Why stable: a consumer group remembers which consumer holds which pending entry. A listener that restarts
under the name it had (``<host>-<slot>``) finds the entries its killed predecessor had read and redoes them
at once (``XREADGROUP … 0``); under a new name it had to wait for the reclaim's idle time (60 s) —
``docs/listener.md``, ``docs/reliability.md`` F32.

Why a lock: two live processes under one name would share one pending list and redo each other's work. The
name is leased in Redis (``SET <key> "<host> <pid> <token>" NX PX <ttl>``), renewed by a heartbeat thread
(independent of how long a batch takes), and released on a clean exit. A process that finds the name
leased:

- by a process of this host that is gone (no such pid, a zombie, or our own pid: a restarted container)
  takes the lease over at once — the common case of a crash and restart;
- by a live process of this host stops with :class:`ConsumerNameInUseError` (start it with another slot);
- by another host (whose processes it cannot see) waits up to one lease for it to lapse, then stops.

The lease also protects a live consumer from the removal of idle consumers (``stream.forget_consumer``).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis

from pipelines.common.errors import OffpipeError

logger = logging.getLogger(__name__)

NAME_KEY = "offpipe:listener:{group}:consumer:{name}"
DEFAULT_TTL_MS = 30_000
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,199}")

_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class ConsumerNameError(OffpipeError, RuntimeError):
    """The consumer name cannot be (or is no longer) this process's."""


class ConsumerNameInUseError(ConsumerNameError):
    """Another live process listens under this consumer name."""


class ConsumerNameLostError(ConsumerNameError):
    """The lease lapsed (the process stalled longer than it) and another process took the name."""


def default_consumer(slot: int = 0, host: str | None = None) -> str:
    """``<host>-<slot>``: the same name after a restart, a different one per listener of a host."""
    return f"{host or socket.gethostname()}-{slot}"


def check_name(name: str) -> str:
    """``name`` when it is a usable consumer name (it goes into a Redis key and the logs), else ValueError."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"consumer name {name[:60]!r}: 1-200 letters, digits or _.:@- expected")
    return name


def name_key(group: str, consumer: str) -> str:
    """The Redis key of ``consumer``'s lease in ``group``."""
    return NAME_KEY.format(group=group, name=consumer)


def _gone(pid: int) -> bool:
    """True when no live process has ``pid`` here (a zombie is gone: it only waits to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


@dataclass
class NameLock:
    """The lease of one consumer name; :meth:`acquire`, then :meth:`release` (the heartbeat renews it)."""

    client: redis.Redis
    group: str
    consumer: str
    ttl_ms: int = DEFAULT_TTL_MS
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def key(self) -> str:
        return name_key(self.group, self.consumer)

    @property
    def value(self) -> str:
        return f"{self.host} {self.pid} {self.token}"

    def acquire(self) -> None:
        """Take the name (see the module's rules) and start the heartbeat; or
        :class:`ConsumerNameInUseError`."""
        wait_s = max(0.01, self.ttl_ms / 10_000)
        patience = self.ttl_ms / 1000 + 2 * wait_s  # one lease: a live holder renews within it
        waited = 0.0
        while True:
            if self.client.set(self.key, self.value, nx=True, px=self.ttl_ms):
                break
            raw = self.client.get(self.key)
            if raw is None:  # lapsed meanwhile
                continue
            holder = raw.decode("utf-8", errors="replace")
            host, pid = self._holder(holder)
            if host == self.host and pid is not None and (pid == self.pid or _gone(pid)):
                if self.client.eval(_TAKE_OVER, 1, self.key, holder, self.value, self.ttl_ms):
                    logger.info("consumer %s: taking over from pid %d, which is gone", self.consumer, pid)
                    break
                continue
            if host == self.host or waited >= patience:
                raise ConsumerNameInUseError(
                    f"consumer name {self.consumer} is in use by pid {pid} on {host} "
                    "(give this listener another --slot or --consumer)"
                )
            self._stop.wait(wait_s)
            waited += wait_s
        self.lost.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease-{self.consumer}", daemon=True)
        self._thread.start()

    @staticmethod
    def _holder(value: str) -> tuple[str, int | None]:
        host, _, rest = value.partition(" ")
        pid = rest.partition(" ")[0]
        return host, int(pid) if pid.isdigit() else None

    def renew(self) -> bool:
        """Extend the lease (or take it again if it lapsed and nobody took it); False when another has it."""
        return bool(self.client.eval(_RENEW, 1, self.key, self.value, self.ttl_ms))

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                if not self.renew():
                    logger.error("consumer %s: the name was taken by another process", self.consumer)
                    self.lost.set()
                    return
            except redis.RedisError as exc:  # Redis away: the loop backs off; the lease is renewed when back
                logger.debug("consumer %s: lease not renewed (%s)", self.consumer, exc)

    def release(self) -> None:
        """Stop the heartbeat and give the name back (if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.client.eval(_RELEASE, 1, self.key, self.value)
        except redis.RedisError as exc:  # it lapses by itself
            logger.warning("consumer %s: lease not released (%s)", self.consumer, exc)
