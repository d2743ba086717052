"""Real receivers for notification tests: an SMTP server (aiosmtpd), an HTTP receiver, and a TCP gate that holds.

The gate sits between a sender and a receiver. While held it accepts connections and forwards nothing, so a
sender is stuck inside its send with nothing delivered; opening it drops the held connections unforwarded (their
sender is gone by then) and forwards every new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.servers import ServerThread
from tests.support.services import free_port


class SmtpSink:
    """aiosmtpd on a free loopback port, keeping every message it accepted."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                sink.messages.append(message_from_bytes(envelope.original_content or envelope.content))
                return "250 Message accepted"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpSink:
    """An HTTP receiver that records each request and answers `status` after `delay` seconds."""

    status: int = 200
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            body = await request.body()
            if self.delay:
                await asyncio.sleep(self.delay)
            self.requests.append(Received(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body))
            return JSONResponse({"ok": self.status < 300}, status_code=self.status)

        return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])

    def serve(self) -> ServerThread:
        return ServerThread(self.app())


class Gate:
    """A TCP forwarder to `upstream_port` that can hold connections (see the module docstring)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.holding = True
        self.held: list[socket.socket] = []
        self.forwarded = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Gate:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        self.open()

    def hold(self) -> None:
        self.holding = True

    def open(self) -> None:
        with self._lock:
            self.holding = False
            for conn in self.held:
                with contextlib.suppress(OSError):
                    conn.close()
            self.held.clear()

    def wait_held(self, n: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.held) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the gate holds {len(self.held)} connections, not {n}")
            time.sleep(0.02)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                if self.holding:
                    self.held.append(conn)
                    continue
                self.forwarded += 1
            threading.Thread(target=self._forward, args=(conn,), daemon=True).start()

    def _forward(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        except OSError:
            conn.close()
            return

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        threads = [
            threading.Thread(target=pipe, args=(conn, upstream), daemon=True),
            threading.Thread(target=pipe, args=(upstream, conn), daemon=True),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        conn.close()
        upstream.close()


def wait_for(condition: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `condition()` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)
