"""Closing the upstream connection as soon as the browser's connection goes away.

While the proxy waits on the upstream (a cold model's first token, a stream between two
chunks) its thread is blocked in a read that may last minutes, so it cannot notice that
the page aborted its fetch (Stop, a closed tab). A small thread watches the client's
socket meanwhile: end-of-file there shuts the upstream socket down, which ends the blocked
read at once and tells the upstream to stop generating.

A client that half-closes (shuts down only its sending side) looks the same as one that
left; browsers never do that, and neither does the openai client.
"""

from __future__ import annotations

import selectors
import socket
import threading

from hearth_server.socket_cut import SocketCut

POLL_S = 0.1  # how often the watcher looks whether the exchange is over


class ClientWatch(SocketCut):
    """Use as a context manager around one upstream exchange."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        super().__init__()
        self._client, self._upstream = client, upstream
        self.client_left = False

    def __enter__(self) -> ClientWatch:
        # Registered here, while the client's socket is surely open; the thread may start
        # only after the exchange is over and the socket closed.
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._client, selectors.EVENT_READ)
        threading.Thread(target=self._watch, name="client-watch", daemon=True).start()
        return self

    def _watch(self) -> None:
        with self._selector as selector:
            while not self._over.is_set():
                if not selector.select(POLL_S):
                    continue
                if self._gone():
                    self.client_left = self._cut(self._upstream)
                    return
                self._over.wait(POLL_S)  # the client sent more (a pipelined request)

    def _gone(self) -> bool:
        try:
            return not self._client.recv(1, socket.MSG_PEEK)
        except TimeoutError:  # readable, yet nothing came: not an end-of-file
            return False
        except OSError:
            return True
