"""Every chat of this browser profile: kept, listed newest first, searched, renamed,
deleted (with undo), exported and imported.

The browser's IndexedDB sits behind the small `Records` protocol. When it is missing or
refuses (private mode, quota), the library says so once and keeps working in memory, so a
chat is never lost to a storage error while the tab stays open.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from pyapp.chats import (
    Attached,
    Chat,
    MessageState,
    RecordError,
    attached_from_json,
    attached_to_json,
    chat_from_json,
    chat_to_json,
    export_json,
    export_markdown,
    import_json,
    new_id,
)
from pyapp.errors import StorageError

NOT_SAVED = "History is not being saved: {reason}. Chats stay in this tab until it closes."


class Records(Protocol):
    """Where chats are kept: one JSON record per chat, plus the id of the open one."""

    async def load(self) -> list[object]: ...

    async def load_one(self, chat_id: str) -> object | None: ...

    async def put(self, record: dict[str, object]) -> None: ...

    async def delete(self, chat_id: str) -> None: ...

    async def load_open(self) -> str | None: ...

    async def save_open(self, chat_id: str) -> None: ...

    async def load_pending(self) -> list[object]: ...

    async def save_pending(self, files: list[dict[str, object]]) -> None: ...

    async def claim(self, chat_id: str, reply: bool) -> Callable[[], object] | None:
        """Hold `chat_id` for this tab until the returned function is called, to write a
        `reply` into it or else to rename or delete it; None, and nothing held, while
        another tab of this profile writes a reply in it. Another tab's rename or delete,
        over in a moment, is waited for (briefly: None if it holds on past that)."""
        ...


@dataclass(frozen=True)
class ChatSummary:
    id: str
    title: str
    updated: float


@dataclass(frozen=True)
class Imported:
    """What an import did with each chat of the file."""

    added: list[Chat]
    already: int  # held here exactly as the file has them (the same file imported twice)
    empty: int  # without a message: a library keeps no empty chat

    def __str__(self) -> str:
        if not self.added and self.already and not self.empty:
            return (
                f"Nothing new to import: {_count(self.already, 'chat', 'is', 'are')} already here."
            )
        said = [f"Imported {_count(len(self.added), 'chat')}"]
        if self.already:
            said.append(f"{_count(self.already, 'chat', 'was', 'were')} already here")
        if self.empty:
            said.append(f"{_count(self.empty, 'empty chat', 'was', 'were')} skipped")
        return "; ".join(said) + "."


@dataclass
class Tab:
    """What one browser tab remembers across its own reloads: the chat it has open. The
    profile's open chat is what every tab last opened, so a reload that reopened it would
    jump to another tab's chat; a new tab has no `open_id` and opens the profile's. `kept`
    hears each chat opened (the page keeps it in the tab's sessionStorage)."""

    open_id: str | None = None
    kept: Callable[[str], object] = lambda chat_id: None


class Library:
    def __init__(self, records: Records, tab: Tab | None = None) -> None:
        self.records = records
        self.tab = tab or Tab()
        self.chats: dict[str, Chat] = {}
        self.open_id: str | None = None
        self.problem: str | None = None  # why history is not being saved, once it is known
        # the chats this tab holds (see `writing`): how many changes hold each, and the
        # function that lets it go once the last of them is done
        self._writing: dict[str, tuple[int, Callable[[], object]]] = {}
        self._unsaved: set[str] = set()  # the chats whose last save here was refused

    async def load(self) -> list[str]:
        """Read every chat; returns what to tell the user (skipped records, no storage)."""
        self.open_id = self.tab.open_id
        try:
            records = await self.records.load()
            self.open_id = self.tab.open_id or await self.records.load_open()
        except StorageError as error:
            return [self._failed(error)]
        if self.tab.open_id is None and self.open_id is not None:
            # a new tab opens the profile's chat: from now on it is this tab's, whatever
            # another tab opens before this one reloads
            self.tab.open_id = self.open_id
            self.tab.kept(self.open_id)
        problems: list[str] = []
        for record in records:
            try:
                chat = chat_from_json(record)
            except RecordError as error:
                problems.append(f"A saved chat could not be read and was skipped ({error}).")
                continue
            self.chats[chat.id] = chat
        return problems

    async def refresh(self, chat_id: str) -> Chat | None:
        """Read `chat_id` again, as another tab wrote it: the chat now held, None when it is
        gone (deleted there). A record that cannot be read leaves the copy held here. A reply
        that tab is writing shows as streaming, until its next save (see `writing`)."""
        try:
            record = await self.records.load_one(chat_id)
        except StorageError:
            return self.chats.get(chat_id)
        if record is None:
            self.chats.pop(chat_id, None)
            self._unsaved.discard(chat_id)
            return None
        try:
            chat = chat_from_json(record, live=True)  # a reply still streaming there stays so
        except RecordError:
            return self.chats.get(chat_id)
        self.chats[chat_id] = chat
        self._unsaved.discard(chat_id)  # the copy held is the record now
        return chat

    def opened(self) -> Chat:
        """The chat this tab had open before its reload (a new tab: the one open when the
        profile's last page closed), or a new one."""
        return self.chats.get(self.open_id or "") or Chat()

    async def save(self, chat: Chat) -> None:
        """Keep `chat` (the ChatStore of a ChatSession). A refusal never interrupts the
        chat: it is noted in `problem`, shown once by the app."""
        self.chats[chat.id] = chat
        if await self._store(self.records.put(chat_to_json(chat))):
            self._unsaved.discard(chat.id)
        else:
            self._unsaved.add(chat.id)

    async def load_pending(self) -> list[Attached]:
        """The files attached to a message that a reload interrupted before it was sent
        (what cannot be read is dropped: the user attaches it again)."""
        try:
            records = await self.records.load_pending()
        except StorageError:
            return []
        files = []
        for record in records:
            with contextlib.suppress(RecordError):
                files.append(attached_from_json(record))
        return files

    async def save_pending(self, files: list[Attached]) -> None:
        await self._store(self.records.save_pending([attached_to_json(f) for f in files]))

    async def open(self, chat: Chat) -> None:
        """Remember `chat` as the open one: this tab's reload reopens it, and so does the
        next new tab."""
        self.open_id = self.tab.open_id = chat.id
        self.tab.kept(chat.id)
        await self._store(self.records.save_open(chat.id))

    @asynccontextmanager
    async def writing(self, chat_id: str, reply: bool) -> AsyncIterator[bool]:
        """Hold `chat_id` while this tab changes it (writes a `reply`, or renames or deletes
        it): True once held (at once when this tab holds it already), False while another
        tab writes a reply into it; another tab's rename or delete, over in a moment, is
        waited for. Each tab saves its own copy of a chat, so a reply written in each at
        once, or a rename or delete made during another tab's reply, would be undone by the
        other's next save. Once held, the chat is read again (`refresh`): `chats` then
        holds the version kept (the one another tab saved while this one waited included),
        or no longer holds a chat deleted elsewhere. A copy that storage refused to save is
        newer than the record, and stays."""
        if chat_id in self._writing:  # a reply begun during this tab's rename, say: the
            holders, release = self._writing[chat_id]  # lock goes when both are done
            self._writing[chat_id] = (holders + 1, release)
            try:
                yield True
            finally:
                self._let_go(chat_id)
            return
        claimed = await self.records.claim(chat_id, reply)
        if claimed is None:
            yield False
            return
        self._writing[chat_id] = (1, claimed)
        try:
            if chat_id in self.chats and chat_id not in self._unsaved:  # another tab may
                await self.refresh(chat_id)  # have saved it just now, its broadcast not here
            for message in self.chats[chat_id].messages if chat_id in self.chats else ():
                if message.state == MessageState.STREAMING:  # no tab writes it: it went away
                    message.state = MessageState.INTERRUPTED
            yield True
        finally:
            self._let_go(chat_id)

    def _let_go(self, chat_id: str) -> None:
        holders, release = self._writing.pop(chat_id)
        if holders > 1:
            self._writing[chat_id] = (holders - 1, release)
        else:
            release()

    async def rename(self, chat_id: str, title: str) -> Chat | None:
        chat = self.chats.get(chat_id)
        title = " ".join(title.split())[:200]
        if chat is None or not title:
            return None
        chat.title = title
        await self.save(chat)
        return chat

    async def delete(self, chat_id: str) -> Chat | None:
        """Forget a chat; the returned Chat can be given back to `restore` (Undo)."""
        chat = self.chats.pop(chat_id, None)
        if chat is not None:
            await self._store(self.records.delete(chat_id))
        return chat

    async def restore(self, chat: Chat) -> None:
        await self.save(chat)

    def summaries(self, query: str = "") -> list[ChatSummary]:
        """The chats newest first; with a query, only those whose title or any message
        contains it (case-insensitive)."""
        needle = query.strip().casefold()
        found = [
            ChatSummary(c.id, c.title or "New chat", c.updated)
            for c in self.chats.values()
            if c.messages and (not needle or _mentions(c, needle))
        ]
        return sorted(found, key=lambda s: s.updated, reverse=True)

    def export_all(self, when: float) -> str:
        chats = sorted(self.chats.values(), key=lambda c: c.created)
        return export_json([c for c in chats if c.messages], when)

    def export_one(self, chat_id: str) -> str | None:
        chat = self.chats.get(chat_id)
        return export_markdown(chat) if chat is not None else None

    async def import_file(self, text: str) -> Imported:
        """Add the chats of an export file. A chat held here as it is in the file is not
        added twice; one whose id is taken by another chat gets a new id and an
        "(imported)" title, so an import never overwrites or deletes anything and the two
        can be told apart. RecordError for a bad file."""
        added: list[Chat] = []
        already = empty = 0
        for chat in import_json(text):
            held = self.chats.get(chat.id)
            if not chat.messages:
                empty += 1
                continue
            if held == chat:
                already += 1
                continue
            if held is not None:
                chat.id = new_id()
                chat.title = f"{chat.title or 'New chat'} (imported)"
            await self.save(chat)
            added.append(chat)
        return Imported(added, already, empty)

    async def _store(self, work: Awaitable[None]) -> bool:
        """Whether `work` was stored (a refusal is noted in `problem`)."""
        try:
            await work
        except StorageError as error:
            self._failed(error)
            return False
        return True

    def _failed(self, error: StorageError) -> str:
        self.problem = NOT_SAVED.format(reason=error)
        return self.problem


def _count(n: int, thing: str, one: str = "", many: str = "") -> str:
    """ "1 chat was", "2 chats were" (`one`/`many`: the verb, if any)."""
    verb = one if n == 1 else many
    return f"{n:,} {thing}{'s' * (n != 1)}" + (f" {verb}" if verb else "")


def _mentions(chat: Chat, needle: str) -> bool:
    return needle in chat.title.casefold() or any(
        needle in m.text.casefold() for m in chat.messages
    )
