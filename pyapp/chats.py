"""A chat as it is kept: its messages with who answered, how, and how each reply ended.

Plain data, so the same objects are shown, sent to a backend, saved in the browser and
exported. `ChatSession` (chat.py) is the only code that changes a chat's messages.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum

from pyapp.stats import ReplyStats
from pyapp.templates import Message, Role

TITLE_LENGTH = 60


class MessageState(StrEnum):
    """How a message ended. STREAMING is only ever seen while a reply is being written: a
    saved STREAMING message means the tab went away mid-reply, and it loads as INTERRUPTED."""

    STREAMING = "streaming"
    DONE = "done"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"


def new_id() -> str:
    """A random id, unique enough for a browser profile's chats and messages."""
    return secrets.token_hex(8)


@dataclass
class ChatMessage:
    role: Role
    text: str
    id: str = field(default_factory=new_id)
    state: MessageState = MessageState.DONE
    backend: str | None = None  # "browser" | "foundry": who answered (assistant messages)
    model: str | None = None
    stats: ReplyStats | None = None

    def as_prompt(self) -> Message:
        """What the model sees of this message."""
        return Message(self.role, self.text)


@dataclass
class Chat:
    id: str = field(default_factory=new_id)
    title: str = ""
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    messages: list[ChatMessage] = field(default_factory=list)

    def find(self, message_id: str) -> int:
        """The index of a message, or -1."""
        return next((i for i, m in enumerate(self.messages) if m.id == message_id), -1)

    def prompt(self, system: str) -> list[Message]:
        """The conversation as a backend sees it: the system prompt, then every message
        (a stopped or interrupted reply counts with the text it has)."""
        head = [Message(Role.SYSTEM, system)] if system else []
        return head + [m.as_prompt() for m in self.messages]


def title_from(text: str) -> str:
    """A chat's title from its first prompt: the first line, cut at a word boundary."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if len(line) <= TITLE_LENGTH:
        return line or "New chat"
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut.rstrip(" ,.;:") + "…"
