"""A backend whose replies a test writes in advance: the third implementation of
`pyapp.backends.Backend`, beside the in-page model and the remote server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from pyapp.backends import BackendKind, ReplyOptions
from pyapp.conversation import ContextWindow
from pyapp.errors import HearthError
from pyapp.stats import ReplyStats, StopReason
from pyapp.templates import Message


@dataclass
class Script:
    """One reply: its chunks, and optionally an error raised after `fail_after` chunks."""

    chunks: list[str]
    error: HearthError | None = None
    fail_after: int = 0


@dataclass
class ScriptedBackend:
    replies: list[Script]
    kind: BackendKind = BackendKind.BROWSER
    model_id: str = "scripted"
    model: str = "Scripted"
    context_length: int | None = None  # with a length, prompts are counted in words
    last_stats: ReplyStats | None = None
    asked: list[list[Message]] = field(default_factory=list)  # every prompt it was sent

    @property
    def context(self) -> ContextWindow | None:
        if self.context_length is None:
            return None
        return ContextWindow(self.context_length, count_words)

    async def reply(
        self, messages: Sequence[Message], options: ReplyOptions, cancelled: Callable[[], bool]
    ) -> AsyncIterator[str]:
        self.asked.append(list(messages))
        script = self.replies.pop(0)
        sent = 0
        reason = StopReason.EOS
        try:
            for chunk in script.chunks:
                if script.error is not None and sent == script.fail_after:
                    break
                if cancelled():
                    reason = StopReason.CANCELLED
                    break
                yield chunk
                sent += 1
                await asyncio.sleep(0)  # let a Stop arrive between chunks
            if script.error is not None and reason != StopReason.CANCELLED:
                reason = StopReason.INTERRUPTED
                raise script.error
        finally:
            self.last_stats = ReplyStats(ttft_s=0.01, reason=reason, generated_tokens=sent)


def count_words(messages: Sequence[Message], limit: int) -> int:
    """A stand-in tokenizer: one token per word, plus one per message."""
    return sum(len(m.content.split()) + 1 for m in messages)
