"""A real HTTP server on 127.0.0.1 (ephemeral port) that records what it receives.

Each request takes the next scripted answer (status, headers, body, delay); once the script is
used up it answers ``default``. ``hang`` makes an answer wait until the sink closes. With an
``ssl_context`` it speaks HTTPS and records the server names (SNI) clients asked for.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    hang: bool = False


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Sink:
    def __init__(
        self,
        script: list[Answer] | None = None,
        default: Answer | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.script = list(script or [])
        self.default = default or Answer()
        self.received: list[Received] = []
        self.started: list[float] = []
        self.server_names: list[str | None] = []
        self.scheme = "https" if ssl_context else "http"
        self._lock = threading.Lock()
        self._release = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with sink._lock:
                    sink.started.append(time.monotonic())
                    answer = sink.script.pop(0) if sink.script else sink.default
                if answer.hang:
                    sink._release.wait()
                    return
                if answer.delay:
                    time.sleep(answer.delay)
                with sink._lock:
                    sink.received.append(
                        Received(self.path, dict(self.headers.items()), body, time.monotonic())
                    )
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                # A 204 or 304 has no content (RFC 9110): bytes sent after it would be read as
                # the start of the next response on the connection.
                body = b"" if answer.status in (204, 304) else answer.body
                if answer.status not in (204, 304):
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:

            def on_sni(_socket: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
                self.server_names.append(name)

            ssl_context.sni_callback = on_sni
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> Sink:
        self.thread.start()
        return self

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self.received]


@contextmanager
def running_sink(
    script: list[Answer] | None = None,
    default: Answer | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[Sink]:
    sink = Sink(script, default, ssl_context).start()
    try:
        yield sink
    finally:
        sink.close()
