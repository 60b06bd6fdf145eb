"""The decoding loop: prefill, step, sample, stop. Backend-agnostic over `StepSession`.

The session keeps the KV cache; `Generator` remembers which token ids it holds, so a new
prompt that extends the previous one (the next chat turn) only evaluates the new tokens.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pyapp.detokenizer import IncrementalDecoder
from pyapp.sampling import SamplingOptions, sample
from pyapp.stats import ReplyStats, StopReason
from pyapp.tokenizer import Tokenizer

Step = tuple[list[float], list[int]]  # the top-k logits and their token ids
# Told (tokens read, tokens to read) while a long prompt is read, and (n, n) once the first
# token is out: a 3,000-token prompt takes a while on 2 cores, and the user sees how far
Reading = Callable[[int, int], None]

# A long prompt is evaluated at most PREFILL_CHUNK tokens a call, so that Stop acts within
# one call rather than after the whole prompt (a minute for 3,000 tokens on 2 cores); what
# was evaluated stays cached for the next turn. A call's cost per token grows with what is
# cached (attention reads all of it): near 4,000 tokens a 256-token call took 2 s here. So
# the chunk shrinks until a call takes about PREFILL_CALL_S, down to PREFILL_MIN, and grows
# back when calls are quick; its sizes are powers of two so that a WebGPU session, which
# compiles its kernels per input shape, sees at most three.
PREFILL_CHUNK = 256
PREFILL_MIN = 64
PREFILL_CALL_S = 1.0


class StepSession(Protocol):
    """One model with a KV cache; implemented over ORT Web in the page, natively in tests."""

    def step(self, ids: Sequence[int]) -> Awaitable[Step]:
        """Start appending `ids` to the cache now, and return what to await for the top-k of
        the next token. Starting at the call lets the model compute the next token while
        Python shows the last one; at most one step is in flight."""
        ...

    async def truncate(self, length: int) -> None:
        """Keep only the first `length` cached positions (0 empties the cache)."""
        ...


@dataclass(frozen=True)
class StopConditions:
    eos_ids: frozenset[int]
    stop_strings: tuple[str, ...] = ()
    max_tokens: int = 512


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class StopStringFilter:
    """Withholds text that might be the start of a stop string, and cuts at a full one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.pending = ""

    def push(self, text: str) -> tuple[str, bool]:
        """(text safe to show now, whether a stop string was reached)."""
        self.pending += text
        for stop in self.stops:
            at = self.pending.find(stop)
            if at >= 0:
                out, self.pending = self.pending[:at], ""
                return out, True
        hold = max(
            (
                n
                for stop in self.stops
                for n in range(1, len(stop))
                if self.pending.endswith(stop[:n])
            ),
            default=0,
        )
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(out) :]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def next_chunk(tokens: int, seconds: float) -> int:
    """The prefill chunk to use after a call that read `tokens` in `seconds`: the largest
    power of two from PREFILL_MIN to PREFILL_CHUNK that the same cost per token would read
    in PREFILL_CALL_S."""
    fits = tokens * PREFILL_CALL_S / seconds if seconds > 0 else PREFILL_CHUNK
    chunk = PREFILL_MIN
    while chunk * 2 <= min(fits, PREFILL_CHUNK):
        chunk *= 2
    return chunk


class Generator:
    def __init__(
        self,
        session: StepSession,
        tokenizer: Tokenizer,
        context_length: int,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.context_length = context_length
        self.clock = clock
        self.cached: list[int] = []
        self.chunk = PREFILL_CHUNK  # kept from turn to turn: the cache is too
        self.stats: ReplyStats | None = None

    async def _reuse(self, prompt: list[int]) -> int:
        """Align the KV cache with `prompt`; returns how many prompt tokens it already holds."""
        keep = min(common_prefix(self.cached, prompt), len(prompt) - 1)
        if keep < len(self.cached):
            await self.session.truncate(keep)
            del self.cached[keep:]
        return keep

    async def run(
        self,
        prompt: list[int],
        options: SamplingOptions,
        stop: StopConditions,
        cancelled: Callable[[], bool] = lambda: False,
        reading: Reading | None = None,
    ) -> AsyncIterator[str]:
        """Yield reply text as it becomes safe to show; `self.stats` is set at the end.
        A prompt longer than one chunk is reported to `reading` as it is read."""
        started = self.clock()
        cached = await self._reuse(prompt)
        rng = random.Random(options.seed)
        decoder = IncrementalDecoder(self.tokenizer)
        stops = StopStringFilter(stop.stop_strings)
        feed = prompt[cached:]
        new = len(feed)  # the tokens to read this turn
        produced: list[int] = []
        seen: set[int] = set()  # for the repetition penalty, kept as we go (not per token)
        reason = StopReason.MAX_TOKENS
        first_at = decode_from = started
        chunked = False  # whether `_prefill` read some of the prompt (and told `reading`)
        pending: Awaitable[Step] | None = None  # the step already started for `feed`
        try:
            while len(produced) < stop.max_tokens:
                if cancelled():
                    reason = StopReason.CANCELLED
                    break
                if pending is None:
                    if not self._fits(feed):
                        break
                    feed = await self._prefill(feed, cancelled, reading)
                    chunked = len(feed) < new
                    if cancelled():
                        reason = StopReason.CANCELLED
                        break
                    pending = self.session.step(feed)
                running, pending = pending, None
                values, ids = await running
                self.cached += feed
                token = sample(values, ids, options, rng, seen)
                if not produced:
                    first_at = decode_from = self.clock()
                    if chunked and reading is not None:
                        reading(new, new)  # all read
                if token in stop.eos_ids:
                    reason = StopReason.EOS
                    break
                produced.append(token)
                seen.add(token)
                feed = [token]
                # the model computes the next token while this one goes to the page
                if len(produced) < stop.max_tokens and self._fits(feed) and not cancelled():
                    pending = self.session.step(feed)
                text, hit = stops.push(decoder.push(token))
                if text:
                    yield text
                if hit:
                    reason = StopReason.STOP_STRING
                    break
            # an unfinished character (max tokens cut it) is dropped: it would show as U+FFFD
            text = stops.flush() if reason != StopReason.STOP_STRING else ""
            if text:
                yield text
        finally:
            elapsed = self.clock() - decode_from
            steps = max(len(produced) - 1, 0)
            self.stats = ReplyStats(
                prompt_tokens=new,
                cached_tokens=cached,
                generated_tokens=len(produced),
                ttft_s=first_at - started,
                decode_tok_s=steps / elapsed if steps and elapsed > 0 else 0.0,
                reason=reason,
                context_used=len(self.cached),
            )
            if pending is not None:
                await self._abandon(pending)

    async def _prefill(
        self, feed: list[int], cancelled: Callable[[], bool], reading: Reading | None
    ) -> list[int]:
        """Evaluate all but the last chunk of `feed`, a chunk a call, until done or Stop,
        telling `reading` how far it got; returns what is left."""
        total, done = len(feed), 0
        while len(feed) > self.chunk and not cancelled():
            if reading is not None:
                reading(done, total)
            piece, feed = feed[: self.chunk], feed[self.chunk :]
            began = self.clock()
            await self.session.step(piece)
            self.chunk = next_chunk(len(piece), self.clock() - began)
            self.cached += piece
            done += len(piece)
        if reading is not None and done and not cancelled():
            reading(done, total)  # the rest is read with the first token
        return feed

    def _fits(self, feed: list[int]) -> bool:
        return len(self.cached) + len(feed) < self.context_length

    async def _abandon(self, pending: Awaitable[Step]) -> None:
        """A step started for a token the reply will not use (a stop string, Stop, a failure
        on the way): let it finish, then drop what it added to the cache."""
        try:
            await pending
        finally:
            await self.session.truncate(len(self.cached))
