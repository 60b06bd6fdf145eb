"""An overall deadline for one exchange on a socket.

A socket timeout bounds each read, not the exchange. http.client reads a status line and
up to 100 header lines of 64 KiB each, so an upstream that sends one byte a second never
trips a 2 s timeout and could hold a probe, and the request that asked for it, for days.
At the deadline a thread shuts the socket down, which ends whichever read is blocked, a
TLS handshake's included.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from hearth_server.socket_cut import SocketCut

POLL_S = 0.05  # how often an expired deadline looks for the socket while it connects


class Deadline(SocketCut):
    """Use as a context manager around the exchange; after it, `expired` says whether the
    deadline cut it short (http.client takes an end of file among the headers for their
    end, so a cut answer can look whole). `sock` gives the socket in use at that moment
    (None before it is connected), since http.client creates its socket, and for TLS
    wraps it, only once it connects."""

    def __init__(self, sock: Callable[[], socket.socket | None], seconds: float) -> None:
        super().__init__()
        self._sock = sock
        self._seconds = seconds
        self.expired = False

    def __enter__(self) -> Deadline:
        threading.Thread(target=self._expire, name="deadline", daemon=True).start()
        return self

    def _expire(self) -> None:
        if self._over.wait(self._seconds):
            return  # over in time: the thread ends with the exchange
        while not self._over.is_set():
            sock = self._sock()
            if sock is not None:
                self.expired = self._cut(sock)
                return
            self._over.wait(POLL_S)  # still connecting, which its own timeout bounds
