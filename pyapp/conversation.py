"""Chat history and context budgeting: what to send the model when history outgrows it.

The oldest user/assistant exchanges are dropped first; the system prompt and the newest
user message always stay. A newest message that alone does not fit is an error the user
can act on, never a crash or a silent truncation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyapp.errors import PromptTooLong
from pyapp.templates import Message, Role


@dataclass
class Conversation:
    system: str = ""
    turns: list[Message] = field(default_factory=list)

    def add(self, role: Role, content: str) -> None:
        self.turns.append(Message(role, content))

    def messages(self, turns: list[Message] | None = None) -> list[Message]:
        head = [Message(Role.SYSTEM, self.system)] if self.system else []
        return head + (self.turns if turns is None else turns)

    def fit(self, count_tokens: Callable[[list[Message]], int], budget: int) -> list[Message]:
        """The longest suffix of history (whole exchanges) whose prompt fits `budget` tokens."""
        turns = list(self.turns)
        while True:
            messages = self.messages(turns)
            used = count_tokens(messages)
            if used <= budget:
                return messages
            if len(turns) <= 1:
                raise PromptTooLong(used=used, budget=budget)
            drop = 2 if len(turns) > 2 and turns[0].role == Role.USER else 1
            turns = turns[drop:]
