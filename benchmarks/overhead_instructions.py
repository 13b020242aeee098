"""Instructions per call the OpenAI instrumentation adds: a load-independent overhead figure.

    python benchmarks/overhead_instructions.py                 # a few minutes (valgrind)
    python benchmarks/overhead_instructions.py --configs bare spanrun-otel otel-v2

Wall-clock overhead on a shared machine moves with the load; the number of instructions a call
executes does not. Each configuration of ``overhead.py`` (same setup, same canned answers
through the SDK's transport hook, so no network and no server thread) runs in its own process
under ``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``). After a warm-up the driver zeroes
the counters (``callgrind_control -z``), the worker makes N calls, the driver dumps the
counters (``callgrind_control -d``; one thread per file, ``--separate-threads``), then counts
the flush of the span processors the same way. Figures, per call, minus the bare client's in
the same interpreter (every venv gets its own bare worker):

- "calling thread": the user's thread only (the instrumentation's hot path);
- "all threads": background span processors and exporters included, and the final flush (for
  ``spanrun`` that is the whole product path: the run exporter writing runs, metrics and traces
  to SQLite). One flush per window: fixed per-batch costs (a store transaction) are spread
  over the window's calls, so fewer calls per window (the streams) show more of them.

Instruction counts are not time (a cache miss or a syscall costs more than an add), but they
track the interpreter work closely and repeat to within a fraction of a percent. The calling
thread's count repeats within about 0.1%; "all threads" moves by up to about 1% between windows
(how many spans each timed export of the background processor takes along depends on timing),
so compare those figures over several windows (``benchmarks/ab.py --rounds``).
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._env import child_pythonpath  # noqa: E402
from benchmarks.overhead import (  # noqa: E402
    _mock_calls,
    _pythons,
    _setup,
    _write_canned,
    flush_providers,
)

CONFIGS = ("bare", "spanrun", "spanrun-otel", "otel-v2", "openllmetry")
MODES = ("chat", "stream100")
WARMUP = 20


def _worker(config: str, workdir: str) -> None:
    label = _setup(config, workdir)
    import openai

    calls = _mock_calls(openai, workdir)
    for _ in range(WARMUP):
        for fn in calls.values():
            fn()
    flush_providers()
    out = sys.stdout
    loaded = sys.modules.get("spanrun")
    out.write(json.dumps({"version": label, "spanrun": getattr(loaded, "__file__", None)}) + "\n")
    out.flush()
    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            fn, count = calls[args[0]], int(args[1])
            for _ in range(count):
                fn()
            out.write("{}\n")
            out.flush()
        elif command == "gc":
            # Uncounted: each window starts from the same collector state, so a full
            # collection of the warm-up's garbage does not land in one configuration's figure.
            gc.collect()
            out.write("{}\n")
            out.flush()
        elif command == "flush":
            # What the calls left for the span processors, wherever the SDK runs it.
            flush_providers()
            out.write("{}\n")
            out.flush()
        elif command == "quit":
            out.flush()
            os._exit(0)


_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def _dump_totals(prefix: str) -> dict[int, int]:
    """Instructions per thread in the dump files starting with ``prefix`` (then deleted)."""
    per_thread: dict[int, int] = {}
    for path in glob.glob(prefix + "*"):
        thread = int(path.rsplit("-", 1)[1]) if "-" in os.path.basename(path) else 1
        match = _TOTALS.search(Path(path).read_text(errors="replace"))
        if match:
            per_thread[thread] = per_thread.get(thread, 0) + int(match.group(1))
        os.unlink(path)
    return per_thread


class Worker:
    def __init__(self, config: str, python: str, tmp: str) -> None:
        self.config = config
        self.out = os.path.join(tmp, f"cg.{config}.{abs(hash(python)) % 10_000}")
        workdir = os.path.join(tmp, f"{config}-{abs(hash(python)) % 10_000}")
        os.makedirs(workdir)
        env = {
            **os.environ,
            "PYTHONHASHSEED": "0",
            "PYTHONPATH": child_pythonpath(ROOT, ROOT / "src"),
        }
        self.proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                f"--callgrind-out-file={self.out}",
                python,
                str(Path(__file__).resolve()),
                "--worker",
                config,
                workdir,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        self.info = json.loads(self._readline())

    def _readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.config} died (exit {self.proc.wait()})")
        return line

    def _control(self, flag: str) -> None:
        subprocess.run(
            ["callgrind_control", flag, str(self.proc.pid)], check=True, capture_output=True
        )

    def _counted(self, command: str) -> dict[int, int]:
        assert self.proc.stdin is not None
        for path in glob.glob(self.out + ".*"):
            os.unlink(path)
        self._control("-z")
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        self._readline()
        self._control("-d")
        return _dump_totals(self.out + ".")

    def measure(self, mode: str, count: int) -> tuple[int, int]:
        """(calling thread, all threads) instructions for ``count`` calls and their flush."""
        self._counted("gc")
        calls = self._counted(f"run {mode} {count}")
        flush = self._counted("flush")
        return calls.get(1, 0), sum(calls.values()) + sum(flush.values())

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except Exception:
            self.proc.kill()
        for path in glob.glob(self.out + "*"):
            os.unlink(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40, help="non-streaming calls measured")
    parser.add_argument("--streams", type=int, default=8, help="100-chunk streams measured")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line of the figures (ab.py)"
    )
    args = parser.parse_args()
    configs = [c for c in args.configs if c != "bare"]
    pythons = _pythons(["bare", *configs])
    counts = {"chat": args.calls, "stream100": args.streams}

    from spanrun.testing.openai_server import OpenAIServer

    results: dict[tuple[str, str], dict[str, Any]] = {}
    versions: dict[str, str] = {}
    spanrun_files: dict[str, str | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with OpenAIServer() as server:
            _write_canned(server.base_url, os.path.join(tmp, "canned.json"))
        # One bare worker per interpreter, so each configuration is compared in its own venv.
        jobs = [(f"bare@{p}", "bare", p) for p in dict.fromkeys(pythons[c] for c in configs)]
        jobs += [(c, c, pythons[c]) for c in configs]
        for key, config, python in jobs:
            worker = Worker(config, python, tmp)
            try:
                versions[key] = worker.info["version"]
                spanrun_files[key] = worker.info.get("spanrun")
                for mode in MODES:
                    calling, total = worker.measure(mode, counts[mode])
                    results[key, mode] = {
                        "calling": calling / counts[mode],
                        "all": total / counts[mode],
                    }
            finally:
                worker.close()
            print(f"{key}: done", file=sys.stderr)

    print(
        f"Instructions per call (callgrind, {args.calls} calls / {args.streams} 100-chunk "
        "streams after warm-up), added over the bare client in the same interpreter:"
    )
    header = (
        f"{'configuration':<14} | {'call, calling thread':>20} | {'call, all threads':>17}"
        f" | {'stream, calling thread':>22} | {'stream, all threads':>19}"
    )
    print(header)
    print("-" * len(header))
    figures: dict[str, dict[str, Any]] = {}
    for key, _, python in jobs:
        if key.startswith("bare@"):
            continue
        cells = []
        for mode in MODES:
            base = results[f"bare@{python}", mode]
            for part in ("calling", "all"):
                cells.append(results[key, mode][part] - base[part])
        print(
            f"{key:<14} | {cells[0]:>+20,.0f} | {cells[1]:>+17,.0f}"
            f" | {cells[2]:>+22,.0f} | {cells[3]:>+19,.0f}"
        )
        for name, value in zip(
            (
                "chat calling thread",
                "chat all threads",
                "stream calling thread",
                "stream all threads",
            ),
            cells,
            strict=True,
        ):
            figures[f"{key} {name}"] = {"value": value, "unit": "instr", "better": "lower"}
    print()
    for key, _, python in jobs:
        if key.startswith("bare@"):
            chat, stream = (results[key, m]["calling"] for m in MODES)
            print(f"  bare in {python}: {chat:,.0f} per call, {stream:,.0f} per stream")
        else:
            print(f"  {key}: {versions[key]}")
    if args.json:
        files = [spanrun_files[key] for key, _, _ in jobs if spanrun_files.get(key)]
        print(json.dumps({"workers": files, "figures": figures}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3])
    else:
        main()
