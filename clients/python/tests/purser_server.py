"""The real `purser` binary as a child process: started on a free loopback port with a
temporary data directory, killed and restarted on the same port and data for the retry tests.
The benchmark uses it too."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

ADMIN_TOKEN = "admin-token-0123456789"
AGENT_TOKEN = "agent-token-0123456789"
AGENT_SCOPE = "acme/research"
READY = re.compile(r"listening on (http://[0-9.]+:([0-9]+))")
START_TIMEOUT_S = 20.0


def binary() -> Path:
    configured = os.environ.get("PURSER_BINARY")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "target" / "debug" / "purser"


def config_text(data_dir: Path, listen: str, extra: str = "") -> str:
    return f"""
listen = "{listen}"
data_dir = "{data_dir}"
durability = "os"

[[tokens]]
token = "{ADMIN_TOKEN}"
role = "admin"
name = "admin"

[[tokens]]
token = "{AGENT_TOKEN}"
role = "agent"
scope = "{AGENT_SCOPE}"
name = "research-agents"

[scheduler]
lease_ttl_ms = 1500

[[pool]]
name = "local"
machines = 2
cores = 4
{extra}
"""


class PurserServer:
    """One server process; `url` stays the same across `restart()`."""

    def __init__(
        self, workdir: Path, extra_config: str = "", env: Optional[dict[str, str]] = None
    ) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.extra_config = extra_config
        # Added to this process's environment (`PURSER_STORE` for a PostgreSQL store).
        self.env = env or {}
        self.port: Optional[int] = None
        self.url = ""
        self.process: Optional[subprocess.Popen[str]] = None
        self.log: list[str] = []

    def start(self) -> PurserServer:
        listen = f"127.0.0.1:{self.port or 0}"
        config = self.workdir / "purser.toml"
        config.write_text(config_text(self.data_dir, listen, self.extra_config))
        self.process = subprocess.Popen(
            [str(binary()), "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **self.env},
        )
        self.url = self._wait_ready(self.process)
        return self

    def _wait_ready(self, process: subprocess.Popen[str]) -> str:
        assert process.stderr is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        found: list[str] = []
        ready = threading.Event()

        def drain() -> None:
            # Keeps reading after the address is found, so that the pipe never fills.
            assert process.stderr is not None
            for line in process.stderr:
                self.log.append(line.rstrip())
                match = READY.search(line)
                if match and not ready.is_set():
                    found.append(match.group(1))
                    self.port = int(match.group(2))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        ready.wait(max(0.0, deadline - time.monotonic()))
        if not found:
            self.stop()
            raise RuntimeError("purser did not start:\n" + "\n".join(self.log[-20:]))
        return found[0]

    def kill(self) -> None:
        """SIGKILL, as a crash: what was acknowledged is in the journal (durability os)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()
