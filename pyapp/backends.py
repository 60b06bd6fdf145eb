"""One contract for every place a reply can come from.

A backend only turns a conversation into text: `reply()` yields the reply as it is
written and leaves `last_stats` behind. It never touches the chat itself; `ChatSession`
(chat.py) owns the turns, so the in-page model, a Foundry Local/OpenAI server and a test
double are driven by exactly the same code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pyapp.conversation import ContextWindow
from pyapp.generate import Generator, Reading, StopConditions
from pyapp.sampling import SamplingOptions
from pyapp.stats import ReplyStats
from pyapp.templates import ChatTemplate, Message
from pyapp.tokenizer import Tokenizer, TokenLimitExceeded


class BackendKind(StrEnum):
    """Who answered a message: the model in this page, or a Foundry Local/OpenAI server."""

    BROWSER = "browser"
    FOUNDRY = "foundry"


@dataclass(frozen=True)
class ReplyOptions:
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 512
    seed: int | None = None


class Backend(Protocol):
    kind: BackendKind
    model_id: str  # the Model picker's value
    model: str  # what answers, as shown to the user
    last_stats: ReplyStats | None

    @property
    def context(self) -> ContextWindow | None:
        """The model's context, when this backend counts tokens itself (None: the server
        manages its own and says so if a prompt is too long)."""
        ...

    def reply(
        self, messages: Sequence[Message], options: ReplyOptions, cancelled: Callable[[], bool]
    ) -> AsyncIterator[str]:
        """Stream the reply to `messages`; raise a HearthError (after whatever text it
        yielded) when it cannot go on. `last_stats` is set when the iterator ends."""
        ...


class LocalBackend:
    """The model running in this page (or natively, in tests): template, tokenizer and the
    generation loop over a `StepSession`; `reading` hears how far a long prompt is read."""

    kind = BackendKind.BROWSER

    def __init__(
        self,
        model_id: str,
        model: str,
        generator: Generator,
        tokenizer: Tokenizer,
        template: ChatTemplate,
        eos_ids: frozenset[int],
        reading: Reading | None = None,
    ) -> None:
        self.model_id = model_id
        self.model = model
        self.generator = generator
        self.tokenizer = tokenizer
        self.template = template
        self.eos_ids = eos_ids | self._stop_ids()
        self.reading = reading
        self.last_stats: ReplyStats | None = None
        self._window = ContextWindow(generator.context_length, self._count)

    @property
    def context(self) -> ContextWindow:
        return self._window

    def _count(self, messages: Sequence[Message], limit: int) -> int:
        """The prompt's tokens, stopping as soon as there are more than `limit` (a huge
        paste is refused without tokenizing all of it)."""
        try:
            return len(self.tokenizer.encode(self.template.render(messages), limit=limit))
        except TokenLimitExceeded as error:
            return error.counted

    def _stop_ids(self) -> frozenset[int]:
        ids = (self.tokenizer.token_id(s) for s in self.template.stop_strings)
        return frozenset(i for i in ids if i is not None)

    async def reply(
        self, messages: Sequence[Message], options: ReplyOptions, cancelled: Callable[[], bool]
    ) -> AsyncIterator[str]:
        prompt = self.tokenizer.encode(self.template.render(messages))
        sampling = SamplingOptions(
            temperature=options.temperature, top_p=options.top_p, seed=options.seed
        )
        stop = StopConditions(
            eos_ids=self.eos_ids,
            stop_strings=self.template.stop_strings,
            max_tokens=options.max_tokens,
        )
        try:
            async for chunk in self.generator.run(prompt, sampling, stop, cancelled, self.reading):
                yield chunk
        finally:
            self.last_stats = self.generator.stats
