"""Cutting an exchange short by shutting its socket down from another thread.

Both the proxy's client watch and the upstream probe's deadline end a read blocked in
another thread the same way: `shutdown` on its socket. Once the exchange is over that
socket may be closed and its descriptor handed to another connection, so the shutdown
must never happen after the exchange ends; a lock makes "still going? then cut" one step.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class SocketCut:
    """Base for a context manager around one exchange: `_cut` shuts a socket down unless
    the exchange (the `with` block) is already over."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._over = threading.Event()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._lock:
            self._over.set()

    def _cut(self, sock: socket.socket) -> bool:
        """Shut `sock` down; False, and nothing done, when the exchange is over."""
        with self._lock:
            if self._over.is_set():
                return False
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the peer had closed it already
            return True
