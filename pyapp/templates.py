"""Rendering a conversation with the model's own chat template, in plain Python.

Pyodide has no Jinja here, so we recognise the template's family from its source and
render that family directly, taking family-specific details (such as the default system
prompt SmolLM2 and Qwen2.5 inject) from the template text itself. Tests compare the
output with transformers' `apply_chat_template` on the real templates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


class UnsupportedTemplate(ValueError):
    """The model's chat template belongs to no family Hearth can render."""


_CHATML_DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system(?:\n|\\n)(.*?)<\|im_end\|>", re.S)


@dataclass(frozen=True)
class ChatTemplate:
    """ChatML (`<|im_start|>role\\ncontent<|im_end|>\\n`): SmolLM2, Qwen2.5 and kin."""

    default_system: str | None
    stop_strings: tuple[str, ...] = ("<|im_end|>",)

    @classmethod
    def from_source(cls, source: str) -> ChatTemplate:
        if "<|im_start|>" not in source or "<|im_sep|>" in source:
            raise UnsupportedTemplate(
                "this model's chat template is not ChatML; Hearth renders ChatML templates "
                "(SmolLM2, Qwen2.5) so far"
            )
        literals = (
            m.group(1).replace("\\n", "\n")
            for m in _CHATML_DEFAULT_SYSTEM.finditer(source)
            if not any(mark in m.group(1) for mark in ("{{", "+", "'"))
        )  # skip the branch that renders the user's own system message
        return cls(default_system=next(literals, None))

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        parts = []
        if self.default_system and (not messages or messages[0].role != Role.SYSTEM):
            parts.append(f"<|im_start|>system\n{self.default_system}<|im_end|>\n")
        for message in messages:
            parts.append(f"<|im_start|>{message.role.value}\n{message.content}<|im_end|>\n")
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        return "".join(parts)
