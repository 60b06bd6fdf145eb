"""The listening server: one thread per connection, at most MAX_CONNECTIONS at once.

The handler's idle timeout frees a thread whose client says nothing, but a client can
open connections faster than they time out; the bound keeps threads (and the memory of
their bodies) from piling up. A connection over the bound waits, accepted by the kernel,
until a thread is free, and is closed if none frees up within the idle timeout.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hearth_server.http_limits import IDLE_TIMEOUT_S, MAX_CONNECTIONS


class HearthServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the kernel holds these until a thread is free

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(timeout=IDLE_TIMEOUT_S):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class HearthServer6(HearthServer):
    address_family = socket.AF_INET6


def listen(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> HearthServer:
    """A server bound to `host` (IPv4 or IPv6) and `port`; OSError if it cannot bind."""
    server_class = HearthServer6 if ":" in host else HearthServer
    return server_class((host, port), handler)
