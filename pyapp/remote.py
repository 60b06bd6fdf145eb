"""A backend over an OpenAI-compatible server (Foundry Local, vLLM, Azure) through the
official `openai` client, in the page and in CPython alike.

Failures become `RemoteError`s whose text says what to do. A stream that breaks off, or
that the server ends without saying why, raises after the text that did arrive, so the
chat keeps the partial reply and marks it interrupted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import openai

from pyapp.backends import BackendKind, ReplyOptions
from pyapp.errors import RemoteError
from pyapp.stats import ReplyStats, StopReason
from pyapp.templates import Message

CANCEL_POLL_S = 0.05  # how often Stop is checked while waiting for the next chunk
_FINISH = {"stop": StopReason.EOS, "length": StopReason.MAX_TOKENS}


def explain(error: Exception) -> RemoteError:
    """One message per failure, preferring the server's (or serve.py proxy's) own words."""
    if isinstance(error, openai.APIStatusError):
        body = error.body
        message = body.get("message") if isinstance(body, dict) else None
        unreachable = error.status_code in (502, 503, 504)
        return RemoteError(str(message or error.message), unreachable=unreachable)
    if isinstance(error, openai.APIError) and isinstance(error.body, dict):
        # an error event inside the stream: the server's, or serve.py's when the server
        # broke off mid-reply (its connection to the page was fine)
        message = error.body.get("message")
        if isinstance(message, str) and message:
            return RemoteError(message, unreachable=error.body.get("type") == "upstream_broke_off")
    if isinstance(error, openai.APIConnectionError | httpx.TransportError):
        return RemoteError(
            f"The connection to serve.py broke ({error}). Is serve.py still running?",
            unreachable=True,
        )
    why = str(error) or "it could not be read"
    return RemoteError(
        f"The server sent something that is not a valid reply ({why}). Try again, or pick "
        "another model."
    )


def request(model: str, messages: Sequence[Message], options: ReplyOptions) -> dict[str, Any]:
    """The chat-completions request for `messages`."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role.value, "content": m.content} for m in messages],
        "temperature": options.temperature,  # always sent: Foundry samples without it
        "top_p": options.top_p,
        "max_tokens": options.max_tokens,
        "stream": True,
    }
    if options.seed is not None:
        body["seed"] = options.seed
    return body


class RemoteBackend:
    kind = BackendKind.FOUNDRY
    context = None  # the server keeps its own context and refuses what does not fit

    def __init__(self, client: Any, model: str) -> None:
        self.client = client
        self.model_id = self.model = model
        self.last_stats: ReplyStats | None = None

    async def reply(
        self, messages: Sequence[Message], options: ReplyOptions, cancelled: Callable[[], bool]
    ) -> AsyncIterator[str]:
        started = time.perf_counter()
        first_at = last_at = 0.0
        finish: str | None = None
        completion_tokens: int | None = None
        reason = StopReason.CANCELLED
        self.last_stats = None
        try:
            stream = await self.client.chat.completions.create(
                **request(self.model, messages, options)
            )
        except Exception as error:  # noqa: BLE001 - every failure gets one message (explain)
            raise explain(error) from error
        chunks = 0  # events read: none at all is not a stream of replies
        try:
            async for chunk in _until_cancelled(stream, cancelled):
                chunks += 1
                usage = getattr(chunk, "usage", None)
                if usage is not None and usage.completion_tokens is not None:
                    completion_tokens = int(usage.completion_tokens)
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        last_at = time.perf_counter()
                        first_at = first_at or last_at
                        yield piece
            if not cancelled():
                if finish is None:
                    reason = StopReason.INTERRUPTED
                    raise RemoteError(
                        "The server ended the stream before the reply was complete. "
                        "Send again to retry."
                        if chunks
                        else "The server's answer held no reply (an OpenAI-compatible "
                        "server streams `data:` events). Check that its URL points at an "
                        "OpenAI-compatible API, then send again."
                    )
                reason = _FINISH.get(finish, StopReason.EOS)
        except RemoteError:
            reason = StopReason.INTERRUPTED
            raise
        except Exception as error:  # noqa: BLE001 - a cut stream or a malformed chunk
            reason = StopReason.INTERRUPTED
            raise explain(error) from error
        finally:
            await stream.close()
            self.last_stats = _stats(started, first_at, last_at, completion_tokens, reason)


def _stats(
    started: float, first_at: float, last_at: float, tokens: int | None, reason: StopReason
) -> ReplyStats:
    """Only what is known: a token rate needs the server's own token count (`usage`);
    counting streamed chunks would not be tokens."""
    rate = None
    if tokens is not None and tokens > 1 and last_at > first_at:
        rate = (tokens - 1) / (last_at - first_at)
    return ReplyStats(
        ttft_s=(first_at or time.perf_counter()) - started,
        reason=reason,
        generated_tokens=tokens,
        decode_tok_s=rate,
    )


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
