"""Throwaway virtual environments for benchmark peers (never runtime dependencies).

Each named environment lives in ``.bench/<name>`` at the repository root and is created once;
spanrun itself is installed into it (editable, no deps) beside the peers so both are measured
in the same interpreter build.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"


def ensure_venv(name: str, packages: list[str], with_spanrun: bool = True) -> Path:
    """Create (or reuse) ``.bench/<name>`` with ``packages`` installed; return its python."""
    venv = BENCH_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / ".spanrun-bench-stamp"
    wanted = hashlib.sha256("\n".join([*packages, str(with_spanrun)]).encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    BENCH_DIR.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *packages], check=True)
    if with_spanrun:
        # Runtime deps first, then spanrun itself without letting pip touch the peers' pins.
        subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    stamp.write_text(wanted)
    return python


def child_pythonpath(*paths: Path) -> str:
    """PYTHONPATH for a benchmark's worker process: the caller's own PYTHONPATH first
    (``benchmarks/ab.py`` points it at the revision under test), then ``paths``."""
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join([*inherited, *(str(p) for p in paths)])
