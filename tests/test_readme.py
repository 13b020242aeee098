"""The README's Python examples run as written (against the local OpenAI-compatible server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from spanrun.testing.openai_server import OpenAIServer

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run_in_order(tmp_path: Path, openai_server: OpenAIServer) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    script = tmp_path / "readme_examples.py"
    script.write_text("\n\n".join(blocks))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANRUN_", "OPENAI_"))}
    env |= {"OPENAI_BASE_URL": openai_server.base_url, "OPENAI_API_KEY": "test-key"}
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, check=True, timeout=120)
    # What the examples logged is in the embedded default store of the working directory.
    import spanrun

    client = spanrun.SpanrunClient(f"sqlite:///{tmp_path / 'spanrun.db'}")
    runs = {r.info.run_name: r for r in client.search_runs(["0", "1"])}
    assert runs["v2"].data.params["prompt_version"] == "v2"
    assert runs["v2"].data.metrics["accuracy"] == 0.74
    assert runs["eval"].data.metrics["llm.calls"] == 1
    assert (tmp_path / "out" / "eval.json").exists()
