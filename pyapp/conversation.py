"""Context budgeting: what to send the model when the history outgrows its context.

The oldest user/assistant exchanges are dropped first; the system prompt and the newest
user message always stay. A newest message that alone does not fit is an error the user
can act on, never a crash or a silent truncation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyapp.errors import PromptTooLong
from pyapp.templates import Message, Role

# count(messages, limit): the prompt's exact token count when it is at most `limit`, else
# any number above `limit` (a counter may stop early rather than tokenize a huge paste).
Counter = Callable[[Sequence[Message], int], int]
# How far past the budget a refused prompt is still counted exactly, for the message.
EXACT_COUNT_FACTOR = 16


@dataclass(frozen=True)
class ContextWindow:
    """A model's context and how to count a prompt in it (only backends that run the model
    here know this; a server manages its own context)."""

    length: int
    count: Counter

    def reply_room(self, max_tokens: int) -> int:
        """Tokens kept free for the reply: max tokens, but never more than half the context,
        so an outsized setting cannot leave no room for the prompt."""
        return max(1, min(max_tokens, self.length // 2))

    def fit(self, messages: Sequence[Message], max_tokens: int) -> list[Message]:
        budget = self.length - self.reply_room(max_tokens)
        return fit(messages, self.count, budget, self.length)


def fit(
    messages: Sequence[Message], count: Counter, budget: int, context: int | None = None
) -> list[Message]:
    """The longest suffix of history (whole exchanges) whose prompt fits `budget` tokens
    (of a `context` that long, when known: it shapes the advice of a refusal)."""
    head = [m for m in messages[:1] if m.role == Role.SYSTEM]
    turns = list(messages[len(head) :])
    while True:
        used = count(head + turns, budget)
        if used <= budget:
            return head + turns
        if len(turns) <= 1:
            cap = budget * EXACT_COUNT_FACTOR
            used = count(head + turns, cap)
            # the system prompt is to blame when it is most of the prompt and the message
            # would fit without it
            system = count(head, cap) if head else 0
            rest = used - system
            raise PromptTooLong(
                min(used, cap),
                budget,
                capped=used > cap,
                context=context,
                system=system > rest and rest < budget,
            )
        drop = 2 if len(turns) > 2 and turns[0].role == Role.USER else 1
        turns = turns[drop:]
