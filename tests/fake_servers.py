"""Protocol-level stand-ins for servers we cannot run in tests.

`FakeOllamaServer` is a replay of Ollama's documented `/api/chat` HTTP protocol (docs/api.md, "Generate a chat
completion"): a streaming request gets newline-delimited JSON chunks, each
`{"model", "created_at", "message": {"role": "assistant", "content": piece}, "done": false}`, then one final chunk
with `"done": true`, `done_reason` and the eval counters; a non-streaming request gets that final object with the
whole reply as its message. An unknown model gets HTTP 404 `{"error": "model 'x' not found"}`, as Ollama answers.
It runs no model: it exists so the real `ollama` client library is exercised end to end over real HTTP.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeOllamaServer:
    """Replays Ollama's /api/chat protocol on 127.0.0.1; `replies` maps a model name to the reply it "writes".

    Every request body is kept in `requests` (path and parsed JSON) so tests can assert what the client sent.
    Use as a context manager; `url` is the base URL to give the client.
    """

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = dict(replies)
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="FakeOllamaServer", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send_json(self, status: int, obj: dict[str, Any]) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/api/tags":
                    self._send_json(200, {"models": [{"name": m, "model": m} for m in fake.replies]})
                elif self.path == "/":
                    body = b"Ollama is running"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._send_json(404, {"error": "404 page not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append({"path": self.path, "json": payload})
                if self.path != "/api/chat":
                    self._send_json(404, {"error": "404 page not found"})
                    return
                model = payload.get("model", "")
                if model not in fake.replies:
                    self._send_json(404, {"error": f"model '{model}' not found"})
                    return
                reply = fake.replies[model]
                stream = payload.get("stream", True)  # Ollama streams unless told not to
                pieces = re.findall(r"\s*\S+|\s+", reply)
                final = {"model": model, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                         "done": True, "done_reason": "stop", "total_duration": 4_883_583_458,
                         "load_duration": 1_334_875, "prompt_eval_count": 26, "prompt_eval_duration": 342_546_000,
                         "eval_count": len(pieces), "eval_duration": 4_535_599_000}
                if not stream:
                    self._send_json(200, {**final, "message": {"role": "assistant", "content": reply}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in pieces:
                    self._chunk({"model": model, "created_at": _now(),
                                 "message": {"role": "assistant", "content": piece}, "done": False})
                self._chunk(final)
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, obj: dict[str, Any]) -> None:
                line = json.dumps(obj).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

        return Handler


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
