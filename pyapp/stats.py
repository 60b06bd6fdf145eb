"""How a reply ended and what it cost, for every backend alike.

A remote server does not say what it cannot know: fields it leaves out stay None rather
than 0, so the status line never shows a made-up "0 tok/s".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class StopReason(StrEnum):
    EOS = "eos"
    STOP_STRING = "stop_string"
    MAX_TOKENS = "max_tokens"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the reply broke off (a remote stream was cut)


@dataclass(frozen=True)
class ReplyStats:
    ttft_s: float
    reason: StopReason
    prompt_tokens: int | None = None  # evaluated this turn (cache hits excluded)
    cached_tokens: int | None = None
    generated_tokens: int | None = None
    decode_tok_s: float | None = None
    context_used: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplyStats:
        def number(key: str) -> Any:
            value = data.get(key)
            return value if isinstance(value, int | float) and not isinstance(value, bool) else None

        return cls(
            ttft_s=float(number("ttft_s") or 0.0),
            reason=StopReason(data.get("reason", StopReason.EOS)),
            prompt_tokens=number("prompt_tokens"),
            cached_tokens=number("cached_tokens"),
            generated_tokens=number("generated_tokens"),
            decode_tok_s=number("decode_tok_s"),
            context_used=number("context_used"),
        )
