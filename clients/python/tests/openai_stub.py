"""A local stand-in for the OpenAI API (stdlib http.server in a thread): chat completions and
responses, plain and streamed (server-sent events with a final usage chunk), recording every
request it sees. Nothing leaves the machine."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

CHAT_USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
RESPONSES_USAGE = {
    "input_tokens": 20,
    "output_tokens": 5,
    "total_tokens": 25,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens_details": {"reasoning_tokens": 0},
}
WORDS = ["Hello", ", ", "wor", "ld"]


def chat_completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(WORDS)},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": CHAT_USAGE,
    }


def chat_chunk(model: str, delta: dict[str, Any], usage: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": None}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": choices,
        "usage": usage,
    }


def response_object(model: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": model,
        "status": status,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "".join(WORDS), "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": RESPONSES_USAGE if status == "completed" else None,
    }


class OpenAIStub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.on_request: Optional[Callable[[dict[str, Any]], None]] = None
        self.fail_status: Optional[int] = None
        self.break_stream = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append({"path": self.path, "body": body})
                if owner.on_request is not None:
                    owner.on_request(body)
                if owner.fail_status is not None:
                    self._json(owner.fail_status, {"error": {"message": "the model is down", "type": "server_error"}})
                elif self.path.endswith("/chat/completions"):
                    self._chat(body)
                elif self.path.endswith("/responses"):
                    self._responses(body)
                else:
                    self._json(404, {"error": {"message": "no such path"}})

            def _chat(self, body: dict[str, Any]) -> None:
                model = body["model"]
                if not body.get("stream"):
                    self._json(200, chat_completion(model))
                    return
                events = [chat_chunk(model, {"role": "assistant", "content": ""})]
                events += [chat_chunk(model, {"content": word}) for word in WORDS]
                if (body.get("stream_options") or {}).get("include_usage"):
                    events.append(chat_chunk(model, {}, CHAT_USAGE))
                self._stream([(None, event) for event in events], done=True)

            def _responses(self, body: dict[str, Any]) -> None:
                model = body["model"]
                if not body.get("stream"):
                    self._json(200, response_object(model))
                    return
                events: list[tuple[Optional[str], dict[str, Any]]] = [
                    ("response.created", {"type": "response.created", "sequence_number": 0,
                                          "response": response_object(model, "in_progress")}),
                ]
                for n, word in enumerate(WORDS):
                    events.append(("response.output_text.delta", {
                        "type": "response.output_text.delta", "sequence_number": n + 1, "delta": word,
                        "item_id": "msg_1", "output_index": 0, "content_index": 0, "logprobs": []}))
                events.append(("response.completed", {"type": "response.completed",
                                                      "sequence_number": len(WORDS) + 1,
                                                      "response": response_object(model)}))
                self._stream(events, done=False)

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events: list[tuple[Optional[str], dict[str, Any]]], *, done: bool) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for n, (name, event) in enumerate(events):
                    if owner.break_stream and n == 2:
                        # Cut mid-stream: no final chunk of the chunked encoding.
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    head = f"event: {name}\n" if name else ""
                    self._chunk(f"{head}data: {json.dumps(event)}\n\n")
                if done:
                    self._chunk("data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, text: str) -> None:
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
