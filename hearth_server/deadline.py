"""An overall deadline for one exchange on a socket.

A socket timeout bounds each read, not the exchange. http.client reads a status line and
up to 100 header lines of 64 KiB each, so an upstream that sends one byte a second never
trips a 2 s timeout and could hold a probe, and the request that asked for it, for days.
At the deadline a timer shuts the socket down, which ends whichever read is blocked, a
TLS handshake's included.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

POLL_S = 0.05  # how often an expired deadline looks for the socket while it connects


class Deadline:
    """Use as a context manager around the exchange; after it, `expired` says whether the
    deadline cut it short (http.client takes an end of file among the headers for their
    end, so a cut answer can look whole). `sock` gives the socket in use at that moment
    (None before it is connected), since http.client creates its socket, and for TLS
    wraps it, only once it connects."""

    def __init__(self, sock: Callable[[], socket.socket | None], seconds: float) -> None:
        self._sock = sock
        self._lock = threading.Lock()  # no shutdown once the exchange is over (fd reuse)
        self._over = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self.expired = False

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._lock:
            self._over = True
        self._timer.cancel()

    def _expire(self) -> None:
        while True:
            with self._lock:
                if self._over:
                    return
                sock = self._sock()
                if sock is not None:
                    self.expired = True
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass  # the peer had closed it already
                    return
            time.sleep(POLL_S)  # still connecting, which its own timeout bounds
