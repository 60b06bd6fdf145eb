"""A chat against an OpenAI-compatible server (Foundry Local, vLLM, Azure) through the
official `openai` client, in the page and in CPython alike.

It shares the `Conversation` with the in-browser chat, so switching backends keeps the
thread. Failures become `RemoteError`s whose text says what to do; a reply that breaks
off mid-stream keeps its partial text and is reported as interrupted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai

from pyapp.conversation import Conversation
from pyapp.errors import RemoteError
from pyapp.generate import Stats, StopReason
from pyapp.settings import Settings
from pyapp.templates import Role

CANCEL_POLL_S = 0.05  # how often Stop is checked while waiting for the next chunk
_FINISH = {"stop": StopReason.EOS, "length": StopReason.MAX_TOKENS}


def explain(error: Exception) -> RemoteError:
    """One message per failure, preferring the server's (or serve.py proxy's) own words."""
    if isinstance(error, openai.APIStatusError):
        body = error.body
        message = body.get("message") if isinstance(body, dict) else None
        unreachable = error.status_code in (502, 503, 504)
        return RemoteError(str(message or error.message), unreachable=unreachable)
    if isinstance(error, openai.APIConnectionError | httpx.TransportError):
        return RemoteError(
            f"The connection to serve.py broke ({error}). Is serve.py still running?",
            unreachable=True,
        )
    return RemoteError(f"The server's answer could not be read: {error}")


class RemoteChat:
    """The remote counterpart of `ChatSession`: same `reply()`, `last_stats`, `stopped`."""

    def __init__(self, client: Any, model: str, conversation: Conversation) -> None:
        self.client = client
        self.model = model
        self.conversation = conversation
        self.last_stats: Stats | None = None
        self.interrupted: str | None = None  # why the last reply broke off, if it did

    def _messages(self) -> list[dict[str, str]]:
        return [{"role": m.role.value, "content": m.content} for m in self.conversation.messages()]

    def request(self, settings: Settings) -> dict[str, Any]:
        """The chat-completions request for the conversation so far."""
        request: dict[str, Any] = {
            "model": self.model,
            "messages": self._messages(),
            "temperature": settings.temperature,  # always sent: Foundry samples without it
            "top_p": settings.top_p,
            "max_tokens": settings.max_tokens,
            "stream": True,
        }
        if settings.seed is not None:
            request["seed"] = settings.seed
        return request

    async def reply(
        self, text: str, settings: Settings, cancelled: Callable[[], bool]
    ) -> AsyncIterator[str]:
        """Stream the reply to `text`; partial text is kept when stopped or cut off."""
        self.conversation.system = settings.system
        self.conversation.add(Role.USER, text)
        self.interrupted, self.last_stats = None, None
        started = time.perf_counter()
        try:
            stream = await self.client.chat.completions.create(**self.request(settings))
        except (openai.APIError, httpx.HTTPError) as error:
            self.conversation.turns.pop()  # nothing was answered: the question is not history
            raise explain(error) from error
        reply: list[str] = []
        chunks, first_at, reason = 0, 0.0, StopReason.CANCELLED
        finish: str | None = None
        try:
            async for chunk in _until_cancelled(stream, cancelled):
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        if not reply:
                            first_at = time.perf_counter()
                        chunks += 1
                        reply.append(piece)
                        yield piece
            if not cancelled():
                reason = _FINISH.get(finish or "", StopReason.INTERRUPTED)
                if finish is None:
                    self.interrupted = "the server ended the stream before the reply was complete"
        except (openai.APIError, httpx.HTTPError) as error:
            reason, self.interrupted = StopReason.INTERRUPTED, str(explain(error))
        finally:
            await stream.close()
            self.conversation.add(Role.ASSISTANT, "".join(reply))
            decode = time.perf_counter() - first_at if first_at else 0.0
            self.last_stats = Stats(
                prompt_tokens=0,
                cached_tokens=0,
                generated_tokens=chunks,
                ttft_s=(first_at or time.perf_counter()) - started,
                decode_tok_s=(chunks - 1) / decode if chunks > 1 and decode > 0 else 0.0,
                reason=reason,
                context_used=0,
            )

    @property
    def stopped(self) -> bool:
        return self.last_stats is not None and self.last_stats.reason == StopReason.CANCELLED


async def _until_cancelled(stream: Any, cancelled: Callable[[], bool]) -> AsyncIterator[Any]:
    """The stream's events until `cancelled()` turns true, checked while waiting too, so a
    Stop does not have to wait for the server's next chunk."""
    events = stream.__aiter__()
    while not cancelled():
        pending = asyncio.ensure_future(events.__anext__())
        while not pending.done():
            await asyncio.wait({pending}, timeout=CANCEL_POLL_S)
            if cancelled() and not pending.done():
                pending.cancel()
                return
        try:
            yield pending.result()
        except StopAsyncIteration:
            return
