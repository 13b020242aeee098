"""Which run a span belongs to: stamped runs, session and trace runs, and the ledger cache."""

from __future__ import annotations

import enum
import getpass
import hashlib
import logging
import os
import re
import sys
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan

from spanrun.core.current import lookups
from spanrun.core.entities import RunTag
from spanrun.core.process import PROCESS_TAG, current_process_tag
from spanrun.core.semconv import SPANRUN_EXPERIMENT_ID, SPANRUN_RUN_ID
from spanrun.core.text import storable_text
from spanrun.core.vocabulary import RUN_MODE_TAG, RUN_NAME_TAG, SOURCE_NAME_TAG
from spanrun.errors import NotFoundError
from spanrun.exporters._drops import Drops
from spanrun.exporters._retry import RetryPolicy
from spanrun.exporters._run_ledger import RunLedger
from spanrun.store.base import DEFAULT_EXPERIMENT_ID, RunWriter

__all__ = [
    "UNKNOWN",
    "RunResolver",
    "SpanOrigin",
    "SpanSource",
    "Unknown",
    "current_experiment_id",
    "current_user",
    "program_name",
]

_log = logging.getLogger("spanrun.exporters._run_exporter")  # the logger users already filter
_RUN_ID = re.compile(r"[0-9A-Za-z_\-]{1,32}")  # what the stores' run ids look like
_MAX_KNOWN = 10_000  # ledgers and trace -> run entries kept (the oldest are forgotten)


class Unknown(enum.Enum):
    """Marks a run id the store does not know (stamped by another store's run, or deleted)."""

    UNKNOWN = "unknown"


UNKNOWN: Final = Unknown.UNKNOWN
RUN_MODE_NAMES = ("session", "trace", "none")  # RunExporter's RUN_MODES (kept here: no cycle)


@dataclass(frozen=True)
class SpanOrigin:
    """Where an un-stamped span comes from (what a :data:`SpanSource` answers).

    Attributes:
        name: the session run's name (``spanrun server``: the sender's ``service.name``).
        experiment_id: where runs made for the span (and a trace without a run) go; None: the
            current experiment.
        instance: which sender of that name (a process, ``service.instance.id``); each
            instance gets a session run of its own. The session run is found or made under a
            key of (experiment, name, instance) with ``RunWriter.create_keyed_run``, so the
            processes of one server (``--workers``) share it.
        run_mode: the sender's run mode, when it chose one (else the exporter's).
        process: the sender's ``spanrun.process`` tag, put on the runs made for it (a run of
            a process found gone is ended as KILLED), else this process's.
        user: the sender's user, the runs' user id (else this process's).
    """

    name: str
    experiment_id: str | None = None
    instance: str | None = None
    run_mode: str | None = None
    process: str | None = None
    user: str | None = None


#: Where an un-stamped span comes from: ``(span, its attributes) -> SpanOrigin`` (or a tuple
#: ``(session run name, experiment id or None)``). One session run is made per (store, name,
#: experiment, instance).
SpanSource = Callable[[ReadableSpan, Mapping[str, Any]], "SpanOrigin | tuple[str, str | None]"]


def session_run_key(experiment_id: str, name: str, instance: str | None) -> str:
    """The ``RunWriter.create_keyed_run`` key of a sender's session run (a digest: names and
    instances may be long)."""
    text = "\0".join((experiment_id, name, instance or ""))
    return "session:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _origin(answer: SpanOrigin | tuple[str, str | None]) -> SpanOrigin:
    return answer if isinstance(answer, SpanOrigin) else SpanOrigin(*answer)


def current_experiment_id() -> str:
    """The experiment chosen with ``spanrun.set_experiment``, else the Default one (the
    tracking layer's answer, through ``spanrun.core.current``)."""
    try:
        return str(lookups.active_experiment_id())
    except Exception:
        _log.debug("spanrun: no current experiment, using Default", exc_info=True)
    return DEFAULT_EXPERIMENT_ID


def program_name() -> str:
    """The session run's name: the program's file stem (``python train.py`` -> ``train``)."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    stem = Path(argv0).stem if argv0 not in ("", "-c", "-") else ""
    return stem or "python"


def current_user() -> str:
    """This process's user name (the user id of the runs it makes)."""
    return _user()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


class RunResolver:
    """Finds (or creates) the run of each span, and caches what is known of each run.

    A span's run is the one stamped on it (``spanrun.run_id``), else the one already known for
    its trace, else by ``run_mode``: the process's session run for the store (created on first
    use), a new run per trace (named after the root span, ended by the exporter when the root
    arrives; kept in :attr:`open_trace_runs` until then), or none. Store operations go through
    ``retry``; what cannot be done is reported through ``drops``. Used under the exporter's lock.
    ``source`` (see :data:`SpanSource`) names session runs and chooses their experiment; by
    default a process has one session run per store, named after the program, in the current
    experiment.
    """

    def __init__(
        self,
        run_mode: str,
        retry: RetryPolicy,
        drops: Drops,
        source: SpanSource | None = None,
    ) -> None:
        self.run_mode = run_mode
        self._retry = retry
        self._drops = drops
        self.source = source
        self.ledgers: OrderedDict[str, RunLedger | Unknown] = OrderedDict()
        self.trace_runs: OrderedDict[str, tuple[str, str]] = OrderedDict()
        # Session runs per store (the tracking URI may change), source and process: (store,
        # name, experiment_id, instance; all None without a source) -> (pid, run_id,
        # experiment_id). Open trace runs: run_id -> (trace_id, store).
        self.sessions: dict[
            tuple[RunWriter, str | None, str | None, str | None], tuple[int, str, str]
        ] = {}
        self.open_trace_runs: dict[str, tuple[str, RunWriter]] = {}

    def after_fork_in_child(self) -> None:
        # The child's session run is its own (per pid); trace runs stay the parent's to end.
        self.open_trace_runs.clear()

    def forget(self) -> None:
        """Forget every run known so far: the next spans make new session and trace runs."""
        self.ledgers.clear()
        self.sessions.clear()
        self.trace_runs.clear()
        self.open_trace_runs.clear()

    def session_run_id(self, store: RunWriter) -> str | None:
        """This process's session run on ``store`` (None until created)."""
        session = self.sessions.get((store, None, None, None))
        return session[1] if session is not None and session[0] == os.getpid() else None

    def session_runs(self) -> dict[tuple[str, str], str]:
        """This process's session runs made for a source: (name, experiment_id) -> run_id."""
        pid = os.getpid()
        return {
            (name, s[2]): s[1]
            for (_, name, _, _), s in self.sessions.items()
            if name is not None and s[0] == pid
        }

    def take_runs_to_end(self) -> list[tuple[str, RunWriter]]:
        """The open trace runs and this process's session runs, forgotten as open."""
        pid = os.getpid()
        to_end = [(run_id, store) for run_id, (_, store) in self.open_trace_runs.items()]
        to_end += [(s[1], key[0]) for key, s in self.sessions.items() if s[0] == pid]
        self.open_trace_runs.clear()
        self.sessions.clear()
        return to_end

    def run_for(
        self,
        store: RunWriter,
        span: ReadableSpan,
        attrs: dict[str, Any],
        trace_id: str,
        root_names: dict[str, str],
    ) -> tuple[str, str] | None:
        """(run_id, experiment_id) of the span's run, or None (no run, or it could not be
        created). ``root_names``: root span names per trace id of the batch (trace mode).

        With a ``source`` (a server receiving spans), a run stamped elsewhere and unknown to
        this store is passed over: such spans go where unstamped ones go (:meth:`run_by_mode`).
        """
        run_id = attrs.get(SPANRUN_RUN_ID)
        if run_id and not (self.source is not None and self.ledgers.get(str(run_id)) is UNKNOWN):
            ids = (str(run_id), str(attrs.get(SPANRUN_EXPERIMENT_ID) or ""))
            self.remember_trace(trace_id, ids)
            return ids
        known = self.trace_runs.get(trace_id)
        if known is not None and not (
            self.source is not None and self.ledgers.get(known[0]) is UNKNOWN
        ):
            return known
        return self.run_by_mode(store, span, attrs, trace_id, root_names)

    def run_by_mode(
        self,
        store: RunWriter,
        span: ReadableSpan,
        attrs: dict[str, Any],
        trace_id: str,
        root_names: dict[str, str],
    ) -> tuple[str, str] | None:
        """The run ``run_mode`` gives a span that names no (known) run."""
        origin = None if self.source is None else _origin(self.source(span, attrs))
        source = experiment_id = instance = None
        run_mode = self.run_mode
        if origin is not None:
            source, experiment_id, instance = origin.name, origin.experiment_id, origin.instance
            if origin.run_mode in RUN_MODE_NAMES:
                run_mode = origin.run_mode
        if run_mode == "session":
            key = (store, source, experiment_id, instance)
            session = self.sessions.get(key)
            if session is None or session[0] != os.getpid():
                start_ms = (span.start_time or 0) // 1_000_000
                created = self.create_run(
                    store,
                    source or program_name(),
                    start_ms,
                    "session",
                    (),
                    experiment_id,
                    origin=origin,
                )
                if created is None:
                    return None
                self.sessions[key] = session = (os.getpid(), *created)
            return session[1], session[2]
        if run_mode == "trace":
            start_ms = (span.start_time or 0) // 1_000_000
            name = root_names.get(trace_id) or span.name
            created = self.create_run(
                store,
                name,
                start_ms,
                "trace",
                [RunTag("spanrun.trace_id", trace_id)],
                experiment_id,
                origin=origin,
            )
            if created is None:
                return None
            self.remember_trace(trace_id, created)
            self.open_trace_runs[created[0]] = (trace_id, store)
            return created
        return None

    def remember_trace(self, trace_id: str, ids: tuple[str, str]) -> None:
        self.trace_runs[trace_id] = ids
        if len(self.trace_runs) > _MAX_KNOWN:
            self.trace_runs.popitem(last=False)

    def ledger(self, store: RunWriter, run_id: str) -> RunLedger | Unknown | None:
        """The run's ledger; UNKNOWN when the store has no such run; None when it failed."""
        ledgers = self.ledgers
        if run_id in ledgers:
            ledgers.move_to_end(run_id)
            return ledgers[run_id]
        if not _RUN_ID.fullmatch(run_id):  # a stamp no store could have made: not asked for
            self._drops.warn_once("bad run id", f"spanrun: spans name an invalid run id {run_id!r}")
            return UNKNOWN
        try:
            ok, run = self._retry.run(
                f"read run {run_id}", lambda: store.get_run(run_id), raise_not_found=True
            )
        except NotFoundError as exc:
            self._drops.warn_once(
                run_id, f"spanrun: spans name run {run_id!r}, unknown here: {exc}"
            )
            ledger: RunLedger | Unknown = UNKNOWN
        else:
            if not ok or run is None:
                return None  # not cached: asked again once the store is back
            ledger = RunLedger.from_run(run, store)
        ledgers[run_id] = ledger
        if len(ledgers) > _MAX_KNOWN:
            ledgers.popitem(last=False)
        return ledger

    def experiment_without_run(self, span: ReadableSpan, attrs: Mapping[str, Any]) -> str:
        """The experiment of a trace stored without a run: its source's, else the current."""
        experiment_id = (
            _origin(self.source(span, attrs)).experiment_id if self.source is not None else None
        )
        return experiment_id or current_experiment_id()

    def create_run(
        self,
        store: RunWriter,
        name: str,
        start_ms: int,
        mode: str,
        extra: Sequence[RunTag] = (),
        experiment_id: str | None = None,
        origin: SpanOrigin | None = None,
    ) -> tuple[str, str] | None:
        """A new run in ``experiment_id`` (default: the current experiment); (run_id,
        experiment_id), None when failed. A session run made for an ``origin`` (a server's
        sender) is found or made under its key, so that the server's workers share it."""
        experiment_id = experiment_id or current_experiment_id()
        name = storable_text(name)  # a root span's name, from the user's program
        process = (origin.process if origin is not None else None) or current_process_tag()
        source_name = sys.argv[0] if sys.argv else ""
        if origin is not None and origin.process:
            source_name = origin.name  # the sender's program, not the server's
        tags = [
            RunTag(RUN_NAME_TAG, name),
            RunTag(RUN_MODE_TAG, mode),
            RunTag(SOURCE_NAME_TAG, source_name),
            RunTag(PROCESS_TAG, process),  # ended as KILLED once it is gone
            *extra,
        ]
        user = (origin.user if origin is not None else None) or _user()
        if origin is not None and mode == "session":
            key = session_run_key(experiment_id, name, origin.instance)
            ok, run = self._retry.run(
                f"find or create the {mode} run",
                lambda: store.create_keyed_run(key, experiment_id, user, start_ms, tags, name),
            )
        else:
            ok, run = self._retry.run(
                f"create the {mode} run",
                lambda: store.create_run(experiment_id, user, start_ms, tags, name),
            )
        if not ok or run is None:
            return None
        self.ledgers[run.info.run_id] = RunLedger.from_run(run, store)
        return run.info.run_id, run.info.experiment_id
