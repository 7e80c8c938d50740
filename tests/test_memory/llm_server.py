"""A real OpenAI-compatible HTTP server on 127.0.0.1 whose behaviour tests script."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD_REPLY = {
    "summary": "The team agreed to release on Monday.",
    "key_points": [{"text": "Release on Monday", "evidence": ["m0", "m1"]}],
}


class FakeLLM:
    """`script` is a list of behaviours used in order (the last one repeats):
    "ok", "invalid", "429", "500", "hang"."""

    def __init__(self) -> None:
        self.script: list[str] = ["ok"]
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["_auth"] = self.headers.get("Authorization")
                body["_path"] = self.path
                behaviour = fake.script[min(len(fake.requests), len(fake.script) - 1)]
                fake.requests.append(body)
                if behaviour == "hang":
                    fake.release.wait(60)
                    return
                if behaviour in ("429", "500"):
                    self.send_response(int(behaviour))
                    if behaviour == "429":
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                content = "not json {" if behaviour == "invalid" else json.dumps(GOOD_REPLY)
                payload = json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": content}}]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        fake.server.shutdown()
        fake.server.server_close()
