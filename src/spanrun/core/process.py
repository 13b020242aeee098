"""Which process a run lives in, and whether that process is gone (core level, no I/O but /proc).

Runs that spanrun starts for a process (the exporter's session and trace runs, fluent
``start_run``) carry the system tag ``spanrun.process``; a store opened later on the same host
ends the RUNNING runs whose process is gone as KILLED (``spanrun.store._dead_runs``).

The tag value is ``<hostname>:<pid>:<start>:<boot>:<scope>``:

- ``start``: the process start time from ``/proc/<pid>/stat`` (clock ticks since boot), so a
  pid reused by a later process is not taken for the old one;
- ``boot``: a prefix of the kernel's boot id: a process of an earlier boot is gone;
- ``scope``: a digest of the machine id and the pid namespace: the pids this process can see.
  Two machines with the same hostname, or a container sharing the host's name (``--network
  host``) but not its pids, differ here, and then nothing is judged.

Each part is empty where it cannot be read (no ``/proc``: macOS, Windows); a missing part never
makes a live process look gone, it only leaves a dead one RUNNING.

This is a core module (layer 1) so that the exporters, the fluent API and the store may all
use it without importing each other's private modules.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass

__all__ = ["PROCESS_TAG", "ProcessId", "current_process_tag", "process_gone", "process_tag"]

#: The system tag naming the process that owns a RUNNING run.
PROCESS_TAG = "spanrun.process"

_PROC = "/proc"
_cache: dict[int, ProcessId] = {}  # per pid: a forked child computes its own


@dataclass(frozen=True)
class ProcessId:
    """The parts of a ``spanrun.process`` tag value ('' where unknown)."""

    host: str
    pid: int
    start: str
    boot: str
    scope: str

    def tag_value(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}:{self.boot}:{self.scope}"

    @classmethod
    def parse(cls, value: str) -> ProcessId | None:
        """The parts of a tag value, or None when it is not one."""
        parts = value.split(":")
        if len(parts) != 5 or not parts[0] or not parts[1].isdigit():
            return None
        host, pid, start, boot, scope = parts
        return cls(host, int(pid), start, boot, scope)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start ticks) of ``pid`` from /proc, or None when it has no /proc entry."""
    try:
        with open(f"{_PROC}/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after
    # the last ')'. Then field 3 is the state and field 22 the start time.
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def _hostname() -> str:
    try:
        name = socket.gethostname()
    except OSError:
        name = ""
    return name.replace(":", "_") or "localhost"  # ':' separates the tag's parts


def _scope() -> str:
    try:
        pid_ns = os.readlink(f"{_PROC}/self/ns/pid")
    except (OSError, AttributeError):
        pid_ns = ""
    machine = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    if not pid_ns and not machine:
        return ""
    return hashlib.sha256(f"{machine}/{pid_ns}".encode()).hexdigest()[:8]


def _identify(pid: int) -> ProcessId:
    stat = _stat(pid)
    boot = _read(f"{_PROC}/sys/kernel/random/boot_id").replace("-", "")[:8]
    return ProcessId(_hostname(), pid, stat[1] if stat else "", boot, _scope())


def current_process() -> ProcessId:
    """This process's identity (computed once per pid)."""
    pid = os.getpid()
    found = _cache.get(pid)
    if found is None:
        found = _cache[pid] = _identify(pid)
    return found


def current_process_tag() -> str:
    """The ``spanrun.process`` tag value of this process."""
    return current_process().tag_value()


def process_tag(pid: int) -> str:
    """The ``spanrun.process`` tag value of another process of this host (tests, tools)."""
    return _identify(pid).tag_value()


def _pid_exists(pid: int) -> bool | None:
    """Whether ``pid`` exists (None: cannot tell on this platform)."""
    if os.name != "posix":
        return None  # Windows' os.kill(pid, 0) would send CTRL_C_EVENT, not probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return None
    return True


def process_gone(value: str, here: ProcessId | None = None) -> bool:
    """True only when the process named by the tag ``value`` is certainly gone.

    False for another host, another pid namespace or machine of the same name, a malformed
    value, or whenever it cannot be told: a live process must never look gone.
    """
    recorded = ProcessId.parse(value)
    here = here if here is not None else current_process()
    if recorded is None or recorded.host != here.host:
        return False
    if recorded.scope != here.scope:
        return False  # other pids than ours (or one side unknown)
    if recorded.boot and here.boot:
        if recorded.boot != here.boot:
            return True  # recorded before the last reboot
    elif recorded.boot or here.boot:
        return False
    if recorded.pid == os.getpid() and recorded.start == here.start:
        return False
    stat = _stat(recorded.pid)
    if stat is None:
        # No /proc entry: gone, unless /proc is absent or hides other users' processes
        # (hidepid); kill(pid, 0) tells those apart.
        return _pid_exists(recorded.pid) is False
    state, start = stat
    if state in ("Z", "X"):
        return True  # exited, not yet reaped by its parent
    return bool(recorded.start) and start != recorded.start
