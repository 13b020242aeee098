"""Same-run A/B of a benchmark: an older revision of spanrun (OLD) against this checkout (NEW).

    python benchmarks/ab.py --base adc46b1 [--rounds N] BENCH [bench args...]
    python benchmarks/ab.py --base adc46b1 --rounds 10 exporter --rounds 1 --burst 0
    python benchmarks/ab.py --base adc46b1 --rounds 6 tracking --skip-mlflow --scale 0.3

The base revision's ``src/`` and ``benchmarks/`` are exported (``git archive``) into a temporary
directory. BENCH (``exporter`` or ``benchmarks/exporter.py``) then runs N times per side,
alternately with ``PYTHONPATH=<base>/src`` and ``PYTHONPATH=<this checkout>/src`` (each first on
the path, so they win over an editable install), in rounds OLD NEW, NEW OLD, ... so a change of
the machine's load hits both sides alike (``--together``: both sides at once in each round, a
same-moment A/B for wall-clock figures on a noisy machine). The benchmark script is this
checkout's (it must run on both revisions) unless ``--base-script`` is given, which runs each
revision's own script.

The benchmark is run with ``--json`` and must end its output with one JSON line
``{"spanrun": <spanrun.__file__>, "workers": [<spanrun.__file__ of subprocesses>...],
"figures": {name: {"value": float, "unit": str, "better": "higher" | "lower"}}}``; every
``spanrun.__file__`` reported is checked to lie under the side's own ``src/``, or the A/B
stops. Printed: per figure, the median over rounds of each side, NEW/OLD of the medians, the
median of the per-round ratios (each NEW run against the OLD run next to it: the steadier
figure on a noisy machine), and in how many rounds NEW was better.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _script(root: Path, bench: str) -> Path:
    name = bench if bench.endswith(".py") else f"benchmarks/{bench}.py"
    path = Path(name)
    if path.is_absolute():
        path = path.relative_to(ROOT)
    elif not (root / path).exists() and (root / "benchmarks" / path.name).exists():
        path = Path("benchmarks") / path.name
    return root / path


def _export(rev: str, dest: Path) -> str:
    """Unpack ``rev``'s src/ and benchmarks/ into ``dest``; return the full commit id."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src", "benchmarks"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return commit


def _start(side: str, root: Path, script: Path, args: list[str], log: Any) -> Any:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(ROOT)])}
    cmd = [sys.executable, str(script), *args, "--json"]
    log.write(f"\n=== {side} {time.strftime('%H:%M:%S')}: {' '.join(cmd)}\n")
    log.flush()
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT)
    )


def _finish(side: str, root: Path, script: Path, proc: Any, log: Any) -> dict[str, Any]:
    src = root / "src"
    stdout, stderr = proc.communicate()
    log.write(f"\n=== {side} output\n{stdout}{stderr}")
    log.flush()
    if proc.returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise SystemExit(f"{side}: {script.name} failed (exit {proc.returncode})")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1])
    for path in [result.get("spanrun"), *result.get("workers", [])]:
        if path is not None and not Path(path).resolve().is_relative_to(src.resolve()):
            raise SystemExit(f"{side}: spanrun was imported from {path}, not from {src}")
    return result


def _fmt(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:,.1f}"
    return f"{value:,.3f}"


def _table(rounds: list[dict[str, Any]]) -> list[str]:
    names = list(dict.fromkeys(n for r in rounds for side in r.values() for n in side["figures"]))
    header = (
        f"| {'figure':<36} | {'unit':<11} | {'OLD median':>11} | {'NEW median':>11} "
        f"| {'NEW/OLD':>7} | {'paired':>7} | {'OLD range':>19} | {'NEW range':>19} "
        f"| {'NEW better':>10} |"
    )
    lines = [header, "|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|"]
    for name in names:
        # Rounds where both sides printed the figure (a benchmark may leave one out, e.g. a
        # ratio whose denominator was not positive in that run).
        both = [r for r in rounds if name in r["old"]["figures"] and name in r["new"]["figures"]]
        if not both:
            continue
        old = [r["old"]["figures"][name]["value"] for r in both]
        new = [r["new"]["figures"][name]["value"] for r in both]
        info = both[0]["new"]["figures"][name]
        higher = info["better"] == "higher"
        om, nm = statistics.median(old), statistics.median(new)
        ratio = f"{nm / om:.3f}" if om else "-"
        paired = [n / o for n, o in zip(new, old, strict=True) if o]
        paired_s = f"{statistics.median(paired):.3f}" if paired else "-"
        wins = sum((n > o) if higher else (n < o) for n, o in zip(new, old, strict=True))
        lines.append(
            f"| {name:<36} | {info['unit']:<11} | {_fmt(om):>11} | {_fmt(nm):>11} "
            f"| {ratio:>7} | {paired_s:>7} "
            f"| {_fmt(min(old)) + ' - ' + _fmt(max(old)):>19} "
            f"| {_fmt(min(new)) + ' - ' + _fmt(max(new)):>19} "
            f"| {f'{wins}/{len(both)}':>10} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        usage="%(prog)s --base REV [--rounds N] [--base-script] BENCH [bench args...]",
    )
    parser.add_argument("--base", required=True, help="the OLD revision (e.g. adc46b1)")
    parser.add_argument("--rounds", type=int, default=6, help="runs per side, interleaved")
    parser.add_argument(
        "--base-script", action="store_true", help="run the base revision's own benchmark script"
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="run OLD and NEW at the same time in each round (a same-moment A/B: both see, and "
        "share, the same machine load) instead of one after the other",
    )
    parser.add_argument("--log", help="write every child's output here (default: a temp file)")
    parser.add_argument("--out", help="write the raw per-round figures here as JSON")
    parser.add_argument("bench")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="spanrun-ab-") as tmp:
        base = Path(tmp) / "base"
        commit = _export(args.base, base)
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        new_script = _script(ROOT, args.bench)
        old_script = _script(base, args.bench) if args.base_script else new_script
        log_path = args.log or str(Path(tempfile.gettempdir()) / f"ab-{os.getpid()}.log")
        sides = {"old": base, "new": ROOT}
        scripts = {"old": old_script, "new": new_script}
        rounds: list[dict[str, Any]] = []
        bench_args = args.bench_args
        started = time.monotonic()
        with open(log_path, "a") as log:
            for r in range(args.rounds):
                order = ("old", "new") if r % 2 == 0 else ("new", "old")
                result = {}
                if args.together:  # both at once: the same moment's load, shared
                    procs = {
                        side: _start(side.upper(), sides[side], scripts[side], bench_args, log)
                        for side in order
                    }
                    for side in order:
                        result[side] = _finish(
                            side.upper(), sides[side], scripts[side], procs[side], log
                        )
                else:
                    for side in order:
                        proc = _start(side.upper(), sides[side], scripts[side], bench_args, log)
                        result[side] = _finish(side.upper(), sides[side], scripts[side], proc, log)
                rounds.append(result)
                print(
                    f"round {r + 1}/{args.rounds} done "
                    f"({' with '.join(order) if args.together else ' then '.join(order)}), "
                    f"{time.monotonic() - started:,.0f} s",
                    file=sys.stderr,
                )
        if args.out:
            Path(args.out).write_text(json.dumps(rounds, indent=1))

    schedule = (
        "OLD and NEW at the same time" if args.together else "interleaved (OLD NEW, NEW OLD...)"
    )
    print(
        f"\n{new_script.name} {' '.join(args.bench_args)}: OLD = {args.base} ({commit[:10]}), "
        f"NEW = this checkout ({head}{', src modified' if dirty else ''}); "
        f"{args.rounds} rounds per side, {schedule}, "
        f"script: {'each revision its own' if args.base_script else 'this checkout'}"
    )
    for side in ("old", "new"):
        first = rounds[0][side]
        files = [f for f in [first.get("spanrun"), *first.get("workers", [])] if f]
        print(f"{side.upper()} spanrun imported from: {', '.join(sorted(set(map(str, files))))}")
    print(
        "NEW/OLD: ratio of the medians; paired: median over rounds of NEW/OLD within a round; "
        "NEW better: rounds in which NEW beat the OLD run beside it\n"
    )
    print("\n".join(_table(rounds)))
    print(f"\nchildren's output: {log_path}")


if __name__ == "__main__":
    main()
