"""An HTTP server that answers from a script (status, headers, body, delay) and records every
request: for the failures the real server cannot be made to produce on cue (503 with
Retry-After, a slow answer)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


USAGE_ANSWER = {
    "seq": 7,
    "duplicate": False,
    "level": "green",
    "action": {"kind": "continue"},
    "fired": None,
    "remaining": {"tokens": 100},
}


class ScriptedServer:
    def __init__(self, script: list[Scripted]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(
                    {"path": self.path, "body": json.loads(body) if body else None, "at": time.monotonic()}
                )
                step = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                if step.delay_s:
                    time.sleep(step.delay_s)
                payload = json.dumps(step.body).encode()
                try:
                    self.send_response(step.status)
                    for name, value in {"content-type": "application/json", **step.headers}.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
