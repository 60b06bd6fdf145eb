"""`ChatSession`: one open chat and the backend answering it.

It is the only code that adds turns, rolls them back, fits the context and switches
backends. Each action yields UI-agnostic events (`Started`, `Chunk`, `Finished`,
`Failed`); the browser layer renders them and a `ChatStore` keeps the chat, so the same
session runs in the page and under CPython tests with a scripted backend.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pyapp.backends import Backend, ReplyOptions
from pyapp.chats import Attached, Chat, ChatMessage, MessageState, auto_title
from pyapp.errors import HearthError, PromptTooLong, StoppedEarly
from pyapp.stats import ReplyStats, StopReason
from pyapp.templates import Role

SAVE_EVERY_S = 1.0  # a streaming reply is saved at least this often (a reload keeps it)


class ChatStore(Protocol):
    async def save(self, chat: Chat) -> None:
        """Keep `chat` (its latest state replaces the previous one)."""
        ...


@dataclass(frozen=True)
class Started:
    """A reply began: `user` is the new question (None for Regenerate), `reply` the empty
    assistant message that the following chunks fill."""

    user: ChatMessage | None
    reply: ChatMessage
    forgotten: int = 0  # the oldest messages left out of the prompt: the context is full


@dataclass(frozen=True)
class Chunk:
    reply: ChatMessage
    text: str  # the new text only; `reply.text` holds all of it


@dataclass(frozen=True)
class Finished:
    """The reply ended: done, stopped, or interrupted with `notice` saying why."""

    reply: ChatMessage
    notice: str | None = None


@dataclass(frozen=True)
class Failed:
    """Nothing was answered: the turn was rolled back (`removed` message ids; `restored`
    when an edit or regenerate put back what it had replaced) and `prompt` is the text to
    give back to the user."""

    error: HearthError
    prompt: str
    removed: tuple[str, ...]
    restored: bool = False


ChatEvent = Started | Chunk | Finished | Failed


def unexpected(error: Exception) -> HearthError:
    """A failure no backend explained (a bug): still one sentence, never a broken chat."""
    return HearthError(
        f"The reply failed unexpectedly ({type(error).__name__}: {error}). "
        "Send again; if it keeps happening, reload the page."
    )


@dataclass(frozen=True)
class Turn:
    """What the user asked for: the system prompt and sampling options of this reply, and
    under Auto why this reply's backend was chosen (kept on the reply)."""

    system: str
    options: ReplyOptions
    route: str | None = None


class ChatSession:
    def __init__(
        self,
        backend: Backend,
        chat: Chat | None = None,
        store: ChatStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.chat = chat or Chat()
        self.store = store
        self.clock = clock
        self.busy = False
        self._stop = False

    def use(self, backend: Backend) -> None:
        """Answer with `backend` from now on; the chat (the thread) stays."""
        self._idle("switch backends")
        self.backend = backend

    def open(self, chat: Chat) -> None:
        """Continue `chat` instead. The in-page model's cache follows by itself: the next
        prompt reuses whatever common prefix it shares with what the cache holds."""
        self._idle("switch chats")
        self.chat = chat

    def stop(self) -> None:
        """Ask the reply being written to end; what it wrote is kept."""
        if self.busy:
            self._stop = True

    @property
    def last_stats(self) -> ReplyStats | None:
        return self.backend.last_stats

    async def send(
        self, text: str, turn: Turn, attachments: Sequence[Attached] = ()
    ) -> AsyncIterator[ChatEvent]:
        """Ask `text` (with files); on failure before any reply text, nothing of the turn is
        kept."""
        question = ChatMessage(Role.USER, text, attachments=list(attachments))
        async for event in self._reply(turn, question):
            yield event

    async def regenerate(self, turn: Turn) -> AsyncIterator[ChatEvent]:
        """Replace the last reply with a new one to the same question."""
        messages = self.chat.messages
        if not messages or messages[-1].role != Role.ASSISTANT:
            return
        previous = messages.pop()
        async for event in self._reply(turn, None, restore=previous):
            yield event

    async def edit(self, message_id: str, text: str, turn: Turn) -> AsyncIterator[ChatEvent]:
        """Change one of the user's messages and ask again; what followed it is replaced."""
        at = self.chat.find(message_id)
        if at < 0 or self.chat.messages[at].role != Role.USER:
            return
        chat = self.chat
        dropped = chat.messages[at:]
        title = chat.title
        first = next(i for i, m in enumerate(chat.messages) if m.role == Role.USER)
        if at == first and title == auto_title(dropped[0]):
            chat.title = ""  # named after its first message, so after the edited one
        del chat.messages[at:]
        edited = ChatMessage(Role.USER, text, id=message_id, attachments=dropped[0].attachments)
        async for event in self._reply(turn, edited, restore=dropped):
            yield event
        if chat.messages[at : at + 1] == dropped[:1]:  # nothing was answered: all put back
            chat.title = title

    def _idle(self, action: str) -> None:
        if self.busy:
            raise RuntimeError(f"cannot {action} while a reply is being written")

    async def _reply(
        self,
        turn: Turn,
        user: ChatMessage | None,
        restore: ChatMessage | list[ChatMessage] | None = None,
    ) -> AsyncIterator[ChatEvent]:
        self._idle("start a reply")
        self.busy, self._stop = True, False
        try:
            async for event in self._write(turn, user, restore):
                yield event
        finally:
            self.busy = False

    async def _write(
        self,
        turn: Turn,
        user: ChatMessage | None,
        restore: ChatMessage | list[ChatMessage] | None,
    ) -> AsyncIterator[ChatEvent]:
        chat, backend = self.chat, self.backend
        asked = user.text if user else ""
        whole = chat.prompt(turn.system) + ([user.as_prompt()] if user else [])
        try:
            prompt = whole
            if backend.context is not None:
                prompt = backend.context.fit(prompt, turn.options.max_tokens)
        except PromptTooLong as error:  # named with the files, most of it as a rule
            asking = user or next((m for m in reversed(chat.messages) if m.role == Role.USER), None)
            files = tuple(file.name for file in asking.attachments) if asking else ()
            refused = error.with_files(files, removable=user is not None and restore is None)
            yield Failed(refused, asked, (), self._put_back(restore))
            return
        except HearthError as error:
            yield Failed(error, asked, (), self._put_back(restore))
            return
        reply = ChatMessage(
            Role.ASSISTANT,
            "",
            state=MessageState.STREAMING,
            backend=backend.kind.value,
            model=backend.model,
            route=turn.route,
        )
        added = [m for m in (user, reply) if m is not None]
        chat.messages += added
        titled = False  # whether the chat is named after this turn's question
        if user is not None and not chat.title:
            chat.title, titled = auto_title(user), True
        await self._save()
        yield Started(user, reply, forgotten=len(whole) - len(prompt))
        saved_at = self.clock()
        failure: HearthError | None = None
        try:
            async for text in backend.reply(prompt, turn.options, lambda: self._stop):
                reply.text += text
                yield Chunk(reply, text)
                if self.clock() - saved_at >= SAVE_EVERY_S:
                    await self._save()
                    saved_at = self.clock()
        except Exception as error:  # noqa: BLE001 - a failed reply never corrupts the chat
            failure = error if isinstance(error, HearthError) else unexpected(error)
        stats = backend.last_stats
        stopped = failure is None and stats is not None and stats.reason == StopReason.CANCELLED
        if not reply.text and (failure is not None or stopped):  # nothing answered: undone
            del chat.messages[-len(added) :]
            if titled:
                chat.title = ""
            restored = self._put_back(restore)
            await self._save()
            why = failure or StoppedEarly(asked=user is not None)
            yield Failed(why, asked, tuple(m.id for m in added), restored)
            return
        notice = str(failure) if failure is not None else None
        if failure is not None:
            reply.state = MessageState.INTERRUPTED
        else:
            reply.state = MessageState.STOPPED if stopped else MessageState.DONE
        reply.stats = stats
        chat.updated = time.time()
        await self._save()
        yield Finished(reply, notice)

    def _put_back(self, restore: ChatMessage | list[ChatMessage] | None) -> bool:
        """Undo what regenerate/edit removed before a reply that produced nothing."""
        if isinstance(restore, ChatMessage):
            self.chat.messages.append(restore)
        elif restore:
            self.chat.messages.extend(restore)
        return bool(restore)

    async def _save(self) -> None:
        if self.store is not None:
            await self.store.save(self.chat)
