"""A chat as it is kept: its messages with who answered, how, and how each reply ended.

Plain data, so the same objects are shown, sent to a backend, saved in the browser and
exported. `ChatSession` (chat.py) is the only code that changes a chat's messages.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pyapp.attachments import fence, prompt_text
from pyapp.stats import ReplyStats
from pyapp.templates import Message, Role

TITLE_LENGTH = 60


class MessageState(StrEnum):
    """How a message ended. STREAMING is only ever seen while a reply is being written: a
    saved STREAMING message means the tab went away mid-reply, and it loads as INTERRUPTED
    (unless read `live`, just as the tab writing it saved it: pyapp/library.py)."""

    STREAMING = "streaming"
    DONE = "done"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"


def new_id() -> str:
    """A random id, unique enough for a browser profile's chats and messages."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Attached:
    """A file sent with a user message: the text extracted from it (what every backend sees,
    pyapp/attachments.py) and its size in tokens, counted when it was attached (`estimated`
    when no in-page tokenizer was loaded to count it)."""

    name: str
    kind: str
    text: str
    tokens: int
    estimated: bool = False


@dataclass
class ChatMessage:
    role: Role
    text: str
    id: str = field(default_factory=new_id)
    state: MessageState = MessageState.DONE
    backend: str | None = None  # "browser" | "foundry": who answered (assistant messages)
    model: str | None = None
    stats: ReplyStats | None = None
    route: str | None = None  # why Auto chose `backend` (a pyapp.route.Reason value)
    attachments: list[Attached] = field(default_factory=list)  # user messages

    def as_prompt(self) -> Message:
        """What the model sees of this message: its attachments' text, then its own."""
        if not self.attachments:
            return Message(self.role, self.text)
        return Message(self.role, prompt_text(self.attachments, self.text))


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


def auto_title(first: ChatMessage) -> str:
    """The title a chat gets from its first prompt (its files' names, if it has no text)."""
    return title_from(first.text or " ".join(a.name for a in first.attachments))


def title_from(text: str) -> str:
    """A chat's title from its first prompt: the first line, cut at a word boundary."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if len(line) <= TITLE_LENGTH:
        return line or "New chat"
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut.rstrip(" ,.;:") + "…"


# --- keeping chats: the record schema, export and import ---------------------------------

SCHEMA = 2  # version of a stored or exported chat record
EXPORT_FORMAT = "hearth-chats"
MAX_TEXT = 4_000_000  # characters in one message: far beyond any context, short of abuse
ROLES = (Role.USER, Role.ASSISTANT)


class RecordError(ValueError):
    """A stored or imported chat that cannot be read; the text says what is wrong."""


def chat_to_json(chat: Chat) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": chat.id,
        "title": chat.title,
        "created": chat.created,
        "updated": chat.updated,
        "messages": [
            {
                "id": m.id,
                "role": m.role.value,
                "text": m.text,
                "state": m.state.value,
                "backend": m.backend,
                "model": m.model,
                "stats": m.stats.to_json() if m.stats else None,
                "route": m.route,
                "attachments": [attached_to_json(a) for a in m.attachments],
            }
            for m in chat.messages
        ],
    }


def attached_to_json(file: Attached) -> dict[str, Any]:
    return {
        "name": file.name,
        "kind": file.kind,
        "text": file.text,
        "tokens": file.tokens,
        "estimated": file.estimated,
    }


def _v1_to_v2(record: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 added Auto's reason (`route`) and files (`attachments`) to messages; a v1
    message had neither."""
    messages = record.get("messages")
    if isinstance(messages, list):
        record["messages"] = [
            {"route": None, "attachments": [], **m} if isinstance(m, dict) else m for m in messages
        ]
    return record


# Older record versions and how to bring each one version up.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record up to SCHEMA, one version at a time."""
    version = record.get("schema", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordError(f"its schema version {version!r} is not one Hearth wrote")
    if version > SCHEMA:
        raise RecordError(
            f"it was written by a newer Hearth (schema {version}; this one reads up to "
            f"{SCHEMA}); update Hearth first"
        )
    while version < SCHEMA:
        record = MIGRATIONS[version](record)
        version += 1
        record["schema"] = version
    return record


def chat_from_json(data: object, live: bool = False) -> Chat:
    """A chat from its record, checked field by field (a record may come from a file). A
    reply saved mid-stream (the tab went away) comes back as interrupted, unless `live`:
    another tab has just saved it and is still writing it."""
    if not isinstance(data, dict):
        raise RecordError("a chat is not a JSON object")
    record = migrate(dict(data))
    messages = record.get("messages")
    if not isinstance(messages, list):
        raise RecordError("a chat has no message list")
    chat = Chat(
        id=_text(record, "id", 1, 64),
        title=_text(record, "title", 0, 500),
        created=_number(record, "created"),
        updated=_number(record, "updated"),
        messages=[_message(m, live) for m in messages],
    )
    return chat


def _message(data: object, live: bool) -> ChatMessage:
    if not isinstance(data, dict):
        raise RecordError("a message is not a JSON object")
    try:
        role = Role(str(data.get("role")))
        state = MessageState(str(data.get("state", MessageState.DONE.value)))
    except ValueError as error:
        raise RecordError(f"a message has {error}") from None
    if role not in ROLES:
        raise RecordError(f"a message has the role {role.value!r}")
    stats = data.get("stats")
    if stats is not None and not isinstance(stats, dict):
        raise RecordError("a message's stats are not a JSON object")
    try:
        figures = ReplyStats.from_json(stats) if stats else None
    except ValueError as error:
        raise RecordError(f"a message's stats are unreadable ({error})") from None
    files = data.get("attachments")
    if not isinstance(files, list) or (files and role != Role.USER):
        raise RecordError("a message's attachments are not a list of files")
    return ChatMessage(
        role=role,
        text=_text(data, "text", 0, MAX_TEXT),
        id=_text(data, "id", 1, 64),
        state=MessageState.INTERRUPTED if state == MessageState.STREAMING and not live else state,
        backend=_optional_text(data, "backend"),
        model=_optional_text(data, "model"),
        stats=figures,
        route=_optional_text(data, "route"),
        attachments=[attached_from_json(f) for f in files],
    )


def attached_from_json(data: object) -> Attached:
    if not isinstance(data, dict):
        raise RecordError("an attachment is not a JSON object")
    tokens, estimated = data.get("tokens"), data.get("estimated", False)
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise RecordError("an attachment's 'tokens' is not a count")
    if not isinstance(estimated, bool):
        raise RecordError("an attachment's 'estimated' is not true or false")
    return Attached(
        name=_text(data, "name", 1, 500),
        kind=_text(data, "kind", 1, 20),
        text=_text(data, "text", 0, MAX_TEXT),
        tokens=tokens,
        estimated=estimated,
    )


def _text(data: dict[str, Any], key: str, shortest: int, longest: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not shortest <= len(value) <= longest:
        raise RecordError(f"{key!r} is not a text of {shortest} to {longest} characters")
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    return _text(data, key, 0, 200)


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise RecordError(f"{key!r} is not a time")
    return float(value)


def export_json(chats: list[Chat], when: float) -> str:
    """Every chat in one versioned file; importing it gives the same chats back."""
    return json.dumps(
        {
            "format": EXPORT_FORMAT,
            "version": SCHEMA,
            "exported": when,
            "chats": [chat_to_json(c) for c in chats],
        },
        ensure_ascii=False,
        indent=1,
    )


def import_json(text: str) -> list[Chat]:
    """The chats in an export file, all or nothing: a file with any unreadable chat is
    refused whole, with one sentence that says why."""
    try:
        data = json.loads(text)
    except ValueError:
        raise RecordError(
            "That file is not valid JSON (it may be truncated); nothing was imported."
        ) from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise RecordError(
            'That file is not a Hearth chat export (it has no "format": "hearth-chats"); '
            "nothing was imported."
        )
    chats = data.get("chats")
    if not isinstance(chats, list):
        raise RecordError("That Hearth export has no chat list; nothing was imported.")
    version = data.get("version")
    try:
        if version is not None:
            migrate({"schema": version})  # the file's own version first, also with no chats
        if not chats:
            raise RecordError("it holds no chats")
        schema = {"schema": version} if version is not None else {}  # none: the first
        return [chat_from_json({**schema, **c} if isinstance(c, dict) else c) for c in chats]
    except RecordError as error:
        raise RecordError(
            f"That Hearth export cannot be read: {error}; nothing was imported."
        ) from None


def export_markdown(chat: Chat) -> str:
    """One chat as a Markdown document: the title, then each message under who wrote it."""
    parts = [f"# {chat.title or 'Chat'}\n"]
    for message in chat.messages:
        who = "You" if message.role == Role.USER else f"Assistant ({message.model or 'unknown'})"
        note = {
            MessageState.STOPPED: " (stopped)",
            MessageState.INTERRUPTED: " (interrupted)",
        }.get(message.state, "")
        files = "".join(
            f"\n\n*Attached: {a.name}*\n\n{fence(a.text)}\n{a.text}\n{fence(a.text)}"
            for a in message.attachments
        )
        parts.append(f"**{who}**{note}{files}\n\n{message.text}\n")
    return "\n".join(parts)
