"""A chat: history, prompt construction within the context budget, and one reply at a time.

UI-agnostic: the browser layer renders what `reply()` yields and reads `last_stats`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from pyapp.conversation import Conversation
from pyapp.generate import Generator, Stats, StopConditions, StopReason
from pyapp.sampling import SamplingOptions
from pyapp.settings import Settings
from pyapp.templates import ChatTemplate, Message, Role
from pyapp.tokenizer import Tokenizer


@dataclass(frozen=True)
class ModelInfo:
    name: str
    eos_ids: frozenset[int]
    context_length: int


class ChatSession:
    def __init__(
        self,
        generator: Generator,
        tokenizer: Tokenizer,
        template: ChatTemplate,
        model: ModelInfo,
        conversation: Conversation | None = None,
    ) -> None:
        self.generator = generator
        self.tokenizer = tokenizer
        self.template = template
        self.model = model
        # Shared with the remote chat when there is one, so switching keeps the thread.
        self.conversation = conversation or Conversation()
        self.last_stats: Stats | None = None

    def _count(self, messages: list[Message]) -> int:
        return len(self.tokenizer.encode(self.template.render(messages)))

    async def reply(
        self, text: str, settings: Settings, cancelled: Callable[[], bool]
    ) -> AsyncIterator[str]:
        """Stream the assistant's reply to `text`; the partial reply is kept if stopped."""
        self.conversation.system = settings.system
        self.conversation.add(Role.USER, text)
        budget = self.model.context_length - settings.max_tokens
        try:
            messages = self.conversation.fit(self._count, budget)
        except Exception:
            self.conversation.turns.pop()
            raise
        prompt = self.tokenizer.encode(self.template.render(messages))
        options = SamplingOptions(
            temperature=settings.temperature, top_p=settings.top_p, seed=settings.seed
        )
        stop = StopConditions(
            eos_ids=self.model.eos_ids | self._stop_ids(),
            stop_strings=self.template.stop_strings,
            max_tokens=settings.max_tokens,
        )
        reply: list[str] = []
        try:
            async for chunk in self.generator.run(prompt, options, stop, cancelled):
                reply.append(chunk)
                yield chunk
        finally:
            self.conversation.add(Role.ASSISTANT, "".join(reply))
            self.last_stats = self.generator.stats

    def _stop_ids(self) -> frozenset[int]:
        ids = (self.tokenizer.token_id(s) for s in self.template.stop_strings)
        return frozenset(i for i in ids if i is not None)

    @property
    def stopped(self) -> bool:
        return self.last_stats is not None and self.last_stats.reason == StopReason.CANCELLED
