"""When a streaming reply is redrawn, and its Markdown when it is: the page's share of a
2-core machine that the model needs all of."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pyapp.markdown import Markdown, MarkdownStream
from pyapp.view import Html

# A streaming reply is redrawn at most every STREAM_EVERY_S for its first FIRST_S, so the
# first words show at once, then every STREAM_SETTLED_S: each redraw costs the page a few
# milliseconds (here and on the main thread) beside a model that uses every core, and
# redrawing 10 rather than 20 times a second gave the in-page model 7% of its speed back
# on a 2-core machine. Rendering its Markdown may also take at most RENDER_SHARE of the time.
STREAM_EVERY_S = 0.05
STREAM_SETTLED_S = 0.1
FIRST_S = 1.0
RENDER_SHARE = 0.03


class Redraw:
    """When to redraw a streaming reply, and its Markdown when it is redrawn.

    At most every STREAM_EVERY_S during the reply's first FIRST_S, then every
    STREAM_SETTLED_S; and the Markdown rendering (which runs in the worker, between the
    model's tokens) backs off so that it takes at most RENDER_SHARE of the time: a cheap
    paragraph redraws on that schedule, a long table less often.
    """

    def __init__(self, markdown: Markdown | None, clock: Callable[[], float] = time.monotonic):
        self.stream = MarkdownStream(markdown) if markdown is not None else None
        self.clock = clock
        self.started = clock()
        self.next_at = 0.0

    def start(self) -> Html | None:
        return (0, []) if self.stream is not None else None

    def due(self, text: str) -> Html | None | Literal[False]:
        """False: not yet. Otherwise redraw now, with this Markdown (None: plain text)."""
        now = self.clock()
        if now < self.next_at:
            return False
        every = STREAM_EVERY_S if now - self.started < FIRST_S else STREAM_SETTLED_S
        if self.stream is None:
            self.next_at = now + every
            return None
        html = self.stream.update(text)
        spent = self.clock() - now
        self.next_at = now + max(every, spent / RENDER_SHARE)
        return html
