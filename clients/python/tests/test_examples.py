"""The examples of `examples/python/`, run as a user runs them, against the real binary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from purser_server import ADMIN_TOKEN, PurserServer

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"


def run_example(server: PurserServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PURSER_URL=server.url, PURSER_TOKEN=ADMIN_TOKEN)
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_agent_loop_obeys_its_budget(server: PurserServer) -> None:
    done = run_example(server, str(EXAMPLES / "agent_loop.py"))
    assert done.returncode == 0, done.stderr
    assert "throttle" in done.stdout and "degrade" in done.stdout
    assert "done" in done.stdout


@pytest.mark.parametrize("machines", ["local-0,local-1"])
def test_worker_runs_its_dag_to_completion(server: PurserServer, machines: str) -> None:
    done = run_example(server, str(EXAMPLES / "worker.py"), "--machines", machines)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming from 'unit tests passed'" in done.stdout
    assert done.stdout.rstrip().endswith("completed")


def test_the_readme_shows_the_examples_as_they_run() -> None:
    """The README's Python section is the examples, pasted as they are."""
    readme = (EXAMPLES.parents[1] / "README.md").read_text()
    for name in ("agent_loop.py", "worker.py"):
        marker = f"<!-- examples/python/{name} -->\n```python\n"
        assert marker in readme, f"the README does not show examples/python/{name}"
        start = readme.index(marker) + len(marker)
        shown = readme[start : readme.index("```\n", start)]
        assert shown == (EXAMPLES / name).read_text(), f"the README's {name} differs from the file"
