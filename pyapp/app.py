"""The app's behaviour between the page and the chat: which backend answers, which chat is
open, what the controls, the chat list and the status line show, and what a click does.

Plain Python over injected parts (a `View`, the backend `Provider`s, a `SettingsStore`
and a `Library` of chats), so the policy runs under CPython tests; `pyapp/browser/main.py`
only wires the browser's versions of them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date
from typing import Any, Protocol

from pyapp.attachments import Attachment, extract
from pyapp.backends import Backend as ChatBackend
from pyapp.backends import BackendKind, ReplyOptions
from pyapp.chat import ChatEvent, ChatSession, Chunk, Failed, Finished, Started, Turn
from pyapp.chats import Attached, Chat, ChatMessage, RecordError
from pyapp.errors import HearthError, RemoteError, StoppedEarly, StorageError
from pyapp.library import Library
from pyapp.markdown import Markdown
from pyapp.redraw import Redraw
from pyapp.route import Reason, route
from pyapp.settings import SAVED, Backend, Preferences
from pyapp.stats import ReplyStats
from pyapp.status import (
    GENERATING,
    ModelOption,
    State,
    empty_hint,
    picker_options,
    ready_text,
)
from pyapp.templates import Message, Role
from pyapp.view import Banner, Html, View

# Leaving a chat whose reply is still being written stops it, asking again this often
# until it has ended (a reply still being routed has nothing to stop yet).
LEAVE_POLL_S = 0.05
# What a tab says when another tab of this browser is writing a reply in the chat it
# would change (Library.writing): a reply of its own, or a rename or delete
REPLYING_ELSEWHERE = (
    "Another tab is writing a reply in this chat. Wait for it to finish (it shows here as it "
    "streams), or start a New chat."
)
CHANGING_ELSEWHERE = "Another tab is writing a reply in “{title}”: try again once it is done."
EDIT_OVERTAKEN = (
    "This chat has changed since the edit (in another tab), so Undo would remove that: "
    "nothing was undone."
)


class Provider(Protocol):
    """Where backends come from: the in-page model, or a Foundry Local/OpenAI server."""

    @property
    def where(self) -> str:
        """For the status line: "in-browser, WASM, 2 threads (…)", "Foundry Local at …"."""
        ...

    async def models(self) -> list[ModelOption]: ...

    async def open(self, model: str | None, progress: Callable[[str], None]) -> ChatBackend:
        """A backend for `model` (None or unknown: the provider's default), loading it
        first if needed and reporting progress as status text."""
        ...

    async def reachable(self) -> bool:
        """Whether it could answer now: a quick look that loads nothing, so that the page
        offers it only where choosing it can work."""
        ...


class SettingsStore(Protocol):
    async def load(self) -> object: ...

    async def save(self, data: dict[str, Any]) -> None:
        """Raises StorageError when the browser refuses (quota, private mode)."""
        ...


# Turns an attached file's bytes into text (the page loads pypdf first when it needs it).
Extractor = Callable[[str, bytes], Awaitable[Attachment]]
CHARS_PER_TOKEN = 4  # a file's size in tokens, estimated, when no tokenizer is loaded


async def extract_here(name: str, data: bytes) -> Attachment:
    return extract(name, data)


class App:
    def __init__(
        self,
        view: View,
        prefs: Preferences,
        providers: dict[Backend, Provider],
        settings_store: SettingsStore,
        library: Library,
        markdown: Markdown | None = None,
        extractor: Extractor = extract_here,
    ) -> None:
        self.view = view
        self.prefs = prefs
        self.providers = providers
        self.settings_store = settings_store
        self.library = library
        self.markdown = markdown  # None: replies show as plain text
        self.extractor = extractor
        self.chat = Chat()  # the open chat, also before any backend has loaded
        self.active: Backend | None = None
        self.opened: dict[Backend, ChatBackend] = {}  # by provider: what each last opened
        self.pending: list[Attached] = []  # files attached to the message being written
        self.session: ChatSession | None = None
        self.busy = False
        self._doing = State.READY  # while busy: loading a model, or writing a reply
        self._idle = asyncio.Event()  # set while no model is loading and no reply is written
        self._idle.set()
        self.query = ""  # the chat list's search
        self._banner_action: Callable[[], Awaitable[None]] | None = None
        self._history_warned = False
        self._refused: str | None = None  # the banner of the last value a setting refused
        self._deleted: list[tuple[Chat, bool]] = []  # what the delete banner's Undo restores
        self._deletes_banner: Banner | None = None
        self._down: set[Backend] = set()  # servers found out of reach on the last try
        self._long_file: tuple[Banner | None, Attached] | None = None  # too long: its banner
        self._forgotten_said: set[str] = set()  # chats told their oldest messages are unseen

    # what the page sends

    async def handle(self, event: dict[str, Any]) -> None:
        """One event from the page (site/ui.js says who sends what)."""
        kind, value = event.get("type"), event.get("value")
        handlers: dict[str, Callable[[], Awaitable[None]]] = {
            "send": lambda: self.send(str(event.get("text", ""))),
            "stop": self._stop,
            "backend": lambda: self.choose(Backend(str(value))),
            "model": lambda: self.pick(str(value)),
            "new_chat": lambda: self.open_chat(Chat()),
            "open_chat": lambda: self.open_id(str(event.get("id"))),
            "setting": lambda: self.setting(str(event.get("name")), str(value)),
            "setting_kept": self._setting_kept,
            "rename": lambda: self.rename(str(event.get("id")), str(event.get("title", ""))),
            "delete": lambda: self.delete(str(event.get("id"))),
            "search": lambda: self.search(str(event.get("query", ""))),
            "export": self.export_all,
            "export_markdown": self.export_open,
            "import": lambda: self.import_file(str(event.get("text", ""))),
            "edit": lambda: self.edit(str(event.get("id")), str(event.get("text", ""))),
            "regenerate": self.regenerate,
            "attach": lambda: self.attach(str(event.get("name", "")), _bytes(event.get("data"))),
            "detach": lambda: self.detach(event.get("index")),
            "banner_action": self._run_banner_action,
            "link_notice": self._show_link_notice,
            "chat_changed": lambda: self._changed_elsewhere(str(event.get("id"))),
        }
        handler = handlers.get(str(kind))
        if kind == "backend" and value not in set(Backend):
            return
        if handler is not None:
            await handler()

    async def start(self, problems: list[str]) -> None:
        """Show the chats and settings, open the chosen backend, then any problems (a bad
        URL parameter stays visible once the page is ready)."""
        problems = problems + await self.library.load()
        self.chat = self.library.opened()
        self.pending = await self.library.load_pending()
        if self.pending:
            self.view.attachments(self.pending)
        self._show_chats()
        self.view.messages([self._message(m) for m in self.chat.messages])
        self.view.settings(self.prefs.effective)
        choice = self.prefs.effective.backend
        error = await self.use(choice)
        if choice == Backend.FOUNDRY and isinstance(error, RemoteError) and error.unreachable:
            await self._answer_here_for_now(error)
        self.view.link_preset(self.prefs.link_notice())
        self._tell_at_start(problems)
        self._history_warned = self.library.problem is not None

    async def _answer_here_for_now(self, error: RemoteError) -> None:
        """A saved server that is down at boot does not leave the page without a model:
        the in-browser one answers for this visit (the saved choice stays, so the next
        visit tries the server first), and the banner offers the server again."""
        failed = await self.use(Backend.BROWSER)
        if failed is not None:
            self.view.banner(f"{error} {failed}")
            return

        async def retry() -> None:
            await self.use(Backend.FOUNDRY)

        self._banner_action = retry
        self.view.banner(
            f"{error} For now, replies come from the model in this browser.",
            "Try Foundry Local again",
        )

    def _tell_at_start(self, problems: list[str]) -> None:
        """One banner for all there is to say once ready: what opening the backend said
        (its way out stays the button), the problems, and what the link preset, with a
        way back to the user's own settings when there is no other button (the link
        presets' sign always offers it)."""
        notice = self.prefs.link_notice()
        if not problems and notice is None:
            return
        shown = self.view.shown
        texts = ([shown.text] if shown else []) + problems + ([notice] if notice else [])
        error = bool(problems) or (shown is not None and shown.kind == "error")
        action = shown.action if shown is not None else None
        # the way out of a link's presets, unless the banner has a button already (the
        # presets' own button always offers it)
        if notice is not None and action is None:
            action, self._banner_action = "Use my settings", self._discard_link
        self.view.banner(" ".join(texts), action, kind="error" if error else "info")

    async def _show_link_notice(self) -> None:
        """The page's sign of a link's presets was clicked: name them again, with the way
        back to the user's own settings."""
        notice = self.prefs.link_notice()
        if notice is not None:
            self._banner_action = self._discard_link
            self.view.banner(notice, "Use my settings", kind="info")

    async def _discard_link(self) -> None:
        """The link's presets end, also in the address (a reload would bring them back);
        the saved backend and model answer again (a reply being written ends first, as
        when leaving the chat)."""
        if not await self._leave_reply():
            return
        self.prefs.discard_link()
        self.view.link_preset(None)
        self.view.forget_params(SAVED)
        now = self.prefs.effective
        self.view.settings(now)
        await self.use(now.backend, now.model)  # what it says (Auto's reach) is said again

    # backends

    async def choose(self, choice: Backend) -> None:
        """The user picked a backend: use it, then remember it."""
        await self.use(choice)
        if self.active == choice:
            await self.setting("backend", choice.value)

    async def use(self, choice: Backend, model: str | None = None) -> HearthError | None:
        """Make `choice` answer from now on (the chat stays), loading it the first time. On
        failure the error is shown (and returned) and, for an unreachable server, the
        in-browser model is offered."""
        if self.busy:
            return None
        async with self._busy(State.LOADING, "Loading…"):
            self.view.hide_banner()
            wanted = model or self.prefs.effective.model
            first = Backend.BROWSER if choice == Backend.AUTO else choice
            beside = HeldProgress(self._progress) if choice == Backend.AUTO else None
            foundry = asyncio.ensure_future(self._open_foundry(beside)) if beside else None
            try:
                backend = await self._open(first, wanted)
            except HearthError as error:
                if foundry is not None:
                    await foundry  # nothing goes on opening once the page says it failed
                self.report(error, choice)
                return error
            if self.session is None:
                self.session = ChatSession(backend, self.chat, self.library)
            else:
                self.session.use(backend)
            self.active = choice
            if beside is not None and foundry is not None:
                if not foundry.done():
                    beside.show()  # the in-page model is open: now, what Foundry Local does
                if not await foundry:
                    self.view.banner(
                        "Auto: Foundry Local cannot be reached, so every message is answered "
                        "in this browser for now. Start Foundry Local (and serve.py) to send "
                        "long messages there.",
                        kind="info",
                    )
            await self._show_models()
        return None

    async def _open(
        self, provider: Backend, model: str | None, progress: Callable[[str], None] | None = None
    ) -> ChatBackend:
        try:
            backend = await self.providers[provider].open(model, progress or self._progress)
        except RemoteError as error:
            if error.unreachable:
                self._down.add(provider)
            raise
        self._down.discard(provider)
        self.opened[provider] = backend
        return backend

    async def _reachable(self, provider: Backend) -> bool:
        """Whether `provider` could take a message now: open already, or its server answers
        a quick look. The answer is kept in `_down`, which decides what the page offers."""
        if provider in self.opened:
            return True
        if provider not in self.providers:
            return False
        if await self.providers[provider].reachable():
            self._down.discard(provider)
            return True
        self._down.add(provider)
        return False

    async def _open_foundry(self, progress: Callable[[str], None] | None = None) -> bool:
        """Under Auto: whether Foundry Local answers (opening it if it does not yet).

        `use` runs this beside the in-page model's loading rather than after it: Python
        imports the openai client while the model worker opens the model, so Auto is ready
        when the slower of the two is, not after both."""
        if Backend.FOUNDRY in self.opened:
            return True
        if Backend.FOUNDRY not in self.providers:
            return False
        try:
            await self._open(Backend.FOUNDRY, None, progress)
        except HearthError:
            return False
        return True

    async def pick(self, model: str) -> None:
        if self.active is None or self.session is None or model == self.session.backend.model_id:
            return
        await self.use(self.active, model)
        if self.session.backend.model_id == model:
            await self.setting("model", model)

    async def setting(self, name: str, value: str) -> None:
        """A setting changed in the page: keep it (this is never a URL preset)."""
        problem = self.prefs.edit(name, value)
        if problem is not None:
            self.view.banner(problem)
            self._refused = problem
            self.view.settings(self.prefs.effective)  # the field shows the value in use again
            return
        await self._setting_kept()
        self.view.link_preset(self.prefs.link_notice())  # editing a preset's field ends it
        try:
            await self.settings_store.save(self.prefs.stored())
        except StorageError as error:
            self.view.banner(f"Settings could not be saved ({error}); they apply to this tab only.")

    async def _setting_kept(self) -> None:
        """A value was taken, or the one in use typed again: a refusal is old news."""
        shown = self.view.shown
        if shown is not None and shown.text == self._refused:
            self.view.hide_banner()

    # chatting

    def _turn(self) -> Turn:
        settings = self.prefs.effective
        options = ReplyOptions(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
        )
        return Turn(system=settings.system, options=options)

    async def send(self, text: str) -> None:
        session, files = self.session, self.pending
        if self.busy or session is None or not (text.strip() or files):
            return
        async with self._busy(State.GENERATING, GENERATING), self._holding() as held:
            if not held:
                return  # what was typed and attached stays
            self.view.hide_banner()
            self.view.prompt("")  # taken; a reply that fails before any text gives it back
            self.pending = []
            await self._show_pending()
            question = ChatMessage(Role.USER, text.strip(), attachments=files)
            turn = await self._routed(question)
            if not await self._show(session.send(text.strip(), turn, files), typed=text):
                self.pending = files + self.pending  # nothing was answered: keep the files
                await self._show_pending()

    async def regenerate(self) -> None:
        if self.busy or self.session is None or len(self.chat.messages) < 2:
            return
        async with self._busy(State.GENERATING, GENERATING), self._holding() as held:
            messages = self.chat.messages  # as saved last, maybe in another tab
            if not held or len(messages) < 2:
                return
            self.view.hide_banner()
            turn = await self._routed(messages[-2])
            await self._show(self.session.regenerate(turn))

    async def edit(self, message_id: str, text: str) -> None:
        if self.busy or self.session is None or not text.strip() or self.chat.find(message_id) < 0:
            return
        async with self._busy(State.GENERATING, GENERATING), self._holding() as held:
            at = self.chat.find(message_id)  # as saved last, maybe in another tab
            if not held or at < 0:
                self.view.give_back(text.strip())  # the edit box has closed: the edit stays here
                return
            chat, replaced, title = self.chat, self.chat.messages[at:], self.chat.title
            self.view.hide_banner()
            edited = replace(self.chat.messages[at], text=text.strip())
            turn = await self._routed(edited)
            answered = await self._show(self.session.edit(message_id, text.strip(), turn))
        if answered and len(replaced) > 1:
            self._offer_undo_edit(chat.id, at, replaced, title)

    def _offer_undo_edit(
        self, chat_id: str, at: int, replaced: list[ChatMessage], title: str
    ) -> None:
        """An edit replaced the message and everything after it: Undo puts them back, and
        the title it had (the new question and reply go; a reply being written ends
        first)."""
        edited = self.library.chats.get(chat_id)
        written = [m.id for m in edited.messages[at:]] if edited else []  # what Undo removes
        later = len(replaced) - 1
        removed = (
            f"{later} message that followed it was"
            if later == 1
            else (f"{later} messages that followed it were")
        )

        async def undo() -> None:
            if not await self._leave_reply():
                return
            async with self._holding(chat_id, undo) as held:
                chat = self.library.chats.get(chat_id)  # as saved last, maybe elsewhere
                if not held or chat is None:
                    return
                if [m.id for m in chat.messages[at:]] != written:
                    self.view.banner(EDIT_OVERTAKEN, kind="info")
                    return
                chat.messages[at:], chat.title = replaced, title
                await self.library.save(chat)
            if chat is self.chat:
                self.view.messages([self._message(m) for m in chat.messages])
            self._show_chats()
            self._warn_history()

        self._banner_action = undo
        text = f"Resent your edited message; the {removed} removed."
        self.view.banner(text, "Undo", kind="info")

    @asynccontextmanager
    async def _holding(
        self, changed: str | None = None, retry: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[bool]:
        """`Library.writing` for the open chat (for a reply) or the `changed` one (a rename,
        a delete, an Undo), saying so when another tab is writing a reply in it, with a
        button that tries the change again (`retry`: a typed title is kept there). The chat
        is then the version saved last, by whichever tab (a reply another tab left
        unfinished, as it was closed, is drawn interrupted); one deleted in another tab
        takes no change, and what was typed stays."""
        chat_id = changed or self.chat.id
        mine = self.library.chats.get(chat_id)
        before = {m.id: m.state for m in self.chat.messages}
        async with self.library.writing(chat_id, reply=changed is None) as held:
            kept = self.library.chats.get(chat_id)
            if held and kept is not mine:  # read again as saved, maybe just now elsewhere
                if kept is None:
                    held = False
                    await self._gone_elsewhere(chat_id)
                elif chat_id == self.chat.id:
                    self._adopt(kept)
                self._show_chats()
            elif held and chat_id == self.chat.id:  # not read again (unsaved, unreadable)
                for message in self.chat.messages:
                    if before.get(message.id, message.state) != message.state:
                        self.view.message(*self._message(message))
            elif not held:
                chat = self.library.chats.get(changed) if changed else None
                title = chat.title if chat is not None else ""
                said = CHANGING_ELSEWHERE.format(title=title or "New chat")
                self._banner_action = retry
                action = "Try again" if retry is not None else None
                self.view.banner(said if changed else REPLYING_ELSEWHERE, action, kind="info")
            yield held

    async def _routed(self, question: ChatMessage) -> Turn:
        """This reply's turn; under Auto, also pick its backend (pyapp/route.py) for the
        whole conversation it would send, `question` included."""
        turn = self._turn()
        if self.active != Backend.AUTO or self.session is None:
            return turn
        local = self.opened[Backend.BROWSER]
        prompt = question.as_prompt().content
        threshold = self.prefs.effective.route_tokens
        history = [m.as_prompt().content for m in self.chat.messages]
        texts = [turn.system, *history, prompt]  # the system prompt is sent too
        size = _count(local, prompt, threshold + 1)
        decision = route(texts, size, Backend.FOUNDRY in self.opened, threshold)
        if decision.reason == Reason.FOUNDRY_DOWN:
            self.view.status(State.GENERATING, "Checking Foundry Local…")
            if await self._open_foundry():
                decision = route(texts, size, True, threshold)
        chosen = Backend.FOUNDRY if decision.backend == BackendKind.FOUNDRY else Backend.BROWSER
        self.session.use(self.opened[chosen])
        return replace(turn, route=decision.reason.value)

    async def _stop(self) -> None:
        if self.session is not None:
            self.session.stop()

    async def _show(self, events: AsyncIterator[ChatEvent], typed: str | None = None) -> bool:
        """Render a reply's events; whether a reply was written. The final message is drawn
        after the controls and status are ready again, so whoever waits for `data-done`
        sees a ready page. A turn undone gives the message box back what was `typed`, as
        typed (the message itself is kept trimmed)."""
        redraw = Redraw(self.markdown)
        answered = True
        async for event in events:
            if isinstance(event, Started):
                # an edit or regenerate replaced messages: drop them, then draw the new ones
                self.view.keep([m.id for m in self.chat.messages])
                if event.user is not None:
                    self.view.message(event.user)
                self.view.message(event.reply, redraw.start())
                if event.forgotten and self.chat.id not in self._forgotten_said:
                    self._forgotten_said.add(self.chat.id)  # once: it holds from now on
                    await self._say_forgotten(event.forgotten)
                if self.library.open_id != self.chat.id:
                    await self.library.open(self.chat)
                self._show_chats()
            elif isinstance(event, Chunk):
                html = redraw.due(event.reply.text)
                if html is not False:
                    self.view.message(event.reply, html)
            elif isinstance(event, Finished):
                self._settle()
                self._show_chats()
                if event.notice:
                    self.view.banner(f"The reply was cut off: {event.notice} What arrived is kept.")
                self.view.message(event.reply, self._html(event.reply))
            elif isinstance(event, Failed):
                if event.restored:  # an edit or regenerate put the old messages back
                    self.view.messages([self._message(m) for m in self.chat.messages])
                else:
                    self.view.remove(event.removed)
                if event.prompt:
                    given = typed if typed is not None and typed.strip() == event.prompt else None
                    self.view.give_back(given or event.prompt)
                self._show_chats()  # a new chat's first turn undone: it is no longer listed
                self.report(event.error, self.active)
                self._settle(figures=False)  # an undone turn's figures describe nothing kept
                answered = False
        self._warn_history()
        return answered

    async def _say_forgotten(self, count: int) -> None:
        """The oldest messages were left out of the prompt (they are kept in the chat): the
        model cannot see them, which it would otherwise answer as if it did. Foundry Local
        is suggested only where it answers."""
        context = self.session.backend.context if self.session is not None else None
        size = f" ({context.length:,} tokens)" if context is not None else ""
        some = "message" if count == 1 else f"{count:,} messages"
        elsewhere = ", or use Foundry Local" if await self._reachable(Backend.FOUNDRY) else ""
        self.view.banner(
            f"The model no longer sees the first {some} of this chat: they do not fit in its "
            f"context{size} beside the rest, and from now on the oldest go first. They are "
            f"kept here. For a reply that knows them, start a New chat with what matters"
            f"{elsewhere}.",
            kind="info",
        )

    # attachments

    async def attach(self, name: str, data: bytes) -> None:
        """A file for the next message: its text, counted, shown as a chip; a file too long
        for the in-page model says so and what to do."""
        try:
            file = await self.extractor(name, data)
        except HearthError as error:
            self.view.banner(str(error))
            return
        if any(f.name == file.name and f.text == file.text for f in self.pending):
            self.view.banner(f"{file.name} is attached already.", kind="info")  # not twice
            return
        local = self.opened.get(Backend.BROWSER)
        window = local.context if local is not None else None
        if window is None:
            tokens, estimated = -(-len(file.text) // CHARS_PER_TOKEN), True
        else:
            tokens, estimated = _count(local, file.text, 10**9), False  # type: ignore[arg-type]
        attached = Attached(file.name, file.kind.value, file.text, tokens, estimated)
        self.pending.append(attached)
        await self._show_pending()
        if window is not None and self.active != Backend.FOUNDRY:
            budget = window.length - window.reply_room(self.prefs.effective.max_tokens)
            if tokens > budget:
                await self._reachable(Backend.FOUNDRY)
                if any(f is attached for f in self.pending):  # not sent or removed meanwhile
                    self._too_long(attached, budget)

    def _too_long(self, file: Attached, budget: int) -> None:
        room = f"the in-browser model has room for {budget:,}"
        size = f"{file.name} is {file.tokens:,} tokens; {room}"
        auto = self.active == Backend.AUTO
        self._banner_action = None
        if auto and Backend.FOUNDRY in self.opened:
            self.view.banner(f"{size}, so Auto sends this message to Foundry Local.", kind="info")
        elif Backend.FOUNDRY in self._down:  # no button that can only fail again
            then = "send (Auto tries it again)" if auto else "choose it as the backend"
            self.view.banner(
                f"{size}, and Foundry Local, which could take it, cannot be reached now. "
                f"Start it and {then}, or remove the file and attach a shorter excerpt."
            )
        else:
            self._banner_action = lambda: self.choose(Backend.FOUNDRY)
            self.view.banner(
                f"{size}. Use Foundry Local for it, or remove it and attach a shorter excerpt.",
                "Use Foundry Local",
            )
        self._long_file = (self.view.shown, file)

    async def detach(self, index: object) -> None:
        if isinstance(index, int) and 0 <= index < len(self.pending):
            file = self.pending.pop(index)
            await self._show_pending()
            if self._long_file is not None and self._long_file[1] is file:
                if self.view.shown is self._long_file[0]:
                    self.view.hide_banner()  # what it said no longer holds
                self._long_file = None

    async def _show_pending(self) -> None:
        """The chips, and the files kept until they are sent (a reload keeps them too)."""
        self.view.attachments(self.pending)
        await self.library.save_pending(self.pending)

    # chats

    async def open_id(self, chat_id: str) -> None:
        chat = self.library.chats.get(chat_id)
        if chat is not None and chat is not self.chat:
            await self.open_chat(chat)

    async def open_chat(self, chat: Chat) -> None:
        """Continue `chat` (a new one appears in the list once it has a message). The
        in-page model's cache follows on the next prompt: its common prefix decides."""
        if await self._leave_reply():
            await self._continue(chat)

    async def _continue(self, chat: Chat, chosen: bool = True) -> None:
        """Open `chat` now: the open one writes no reply, or it is gone. One the user
        `chosen` here, a new chat too, is what a reload reopens; the new chat that replaces
        one deleted in another tab is not (that tab's open chat is, for the profile)."""
        self.chat = chat
        if self.session is not None:
            self.session.open(chat)
        if chosen:
            await self.library.open(chat)
        self.view.messages([self._message(m) for m in chat.messages])
        # the message box is left as it is: a draft survives a switch, and a clear sent now
        # could wipe what the user typed after clicking
        if self.session is not None and self.active is not None:
            self._show_ready(None)  # the last reply's figures belong to the chat left
        self._show_chats()
        self._warn_history()

    async def _changed_elsewhere(self, chat_id: str) -> None:
        """Another tab saved or deleted `chat_id`: take its version, so that this tab shows
        what is kept and its next save does not overwrite what the other wrote. A chat this
        tab is writing a reply into keeps this tab's version: no other tab may change it
        meanwhile (`Library.writing`)."""
        writing = self.session is not None and self.session.busy and self.chat.id == chat_id
        if writing:
            return
        chat = await self.library.refresh(chat_id)
        if chat is None:
            await self._gone_elsewhere(chat_id)
        elif chat_id == self.chat.id:
            self._adopt(chat)
        self._show_chats()

    def _adopt(self, chat: Chat) -> None:
        """Continue the open chat as another tab saved it (`chat`, read again)."""
        shown = {m.id: m for m in self.chat.messages}
        self.chat = chat
        if self.session is not None:
            self.session.open(chat)
        for message in chat.messages:  # only what changed is drawn again
            if shown.get(message.id) != message:
                self.view.message(*self._message(message))
        self.view.keep([m.id for m in chat.messages])

    async def _gone_elsewhere(self, chat_id: str) -> None:
        """`chat_id` was deleted in another tab: close it here if it is open (what was
        typed stays)."""
        if chat_id == self.chat.id:  # `_holding` may ask, before its reply begins
            await self._continue(Chat(), chosen=False)
            self.view.banner("The open chat was deleted in another tab.", kind="info")

    async def rename(self, chat_id: str, title: str) -> None:
        async with self._holding(chat_id, lambda: self.rename(chat_id, title)) as held:
            if held and await self.library.rename(chat_id, title) is not None:
                self._show_chats()
                self._warn_history()

    async def delete(self, chat_id: str) -> None:
        """Forget a chat, with Undo. Another chat goes at once, even while a reply streams;
        the open one first ends its reply."""
        if chat_id == self.chat.id and not await self._leave_reply():
            return
        async with self._holding(chat_id, lambda: self.delete(chat_id)) as held:
            chat = await self.library.delete(chat_id) if held else None
        if chat is None:
            return
        was_open = chat is self.chat
        if was_open:
            await self.open_chat(Chat())
        self._show_chats()
        # deletes in a row share one banner, whose Undo brings back every one of them
        if self.view.shown is None or self.view.shown is not self._deletes_banner:
            self._deleted = []
        self._deleted.append((chat, was_open))
        deleted = list(self._deleted)

        async def undo() -> None:
            for each, _ in deleted:
                await self.library.restore(each)
            reopen = next((each for each, opened in deleted if opened), None)
            if reopen is not None and not self.chat.messages:  # nothing written since
                await self.open_chat(reopen)
            self._show_chats()

        self._banner_action = undo
        self.view.banner(deleted_text([each for each, _ in deleted]), "Undo", kind="info")
        self._deletes_banner = self.view.shown

    async def search(self, query: str) -> None:
        self.query = query
        self._show_chats()

    async def export_all(self) -> None:
        day = date.today().isoformat()
        text = self.library.export_all(time.time())
        self.view.download(f"hearth-chats-{day}.json", "application/json", text)

    async def export_open(self) -> None:
        text = self.library.export_one(self.chat.id) if self.chat.messages else None
        if text is None:
            self.view.banner("This chat is empty: there is nothing to export yet.", kind="info")
            return
        words = "".join(c if c.isalnum() else " " for c in self.chat.title.lower()).split()
        self.view.download(f"{'-'.join(words) or 'chat'}.md", "text/markdown", text)

    async def import_file(self, text: str) -> None:
        try:
            imported = await self.library.import_file(text)
        except RecordError as error:
            self.view.banner(str(error))
            return
        self._show_chats()
        self.view.banner(str(imported), kind="info")
        self._warn_history()

    # showing things

    def _html(self, message: ChatMessage) -> Html | None:
        """A reply's rendered Markdown (user messages show as typed)."""
        if self.markdown is None or message.role != Role.ASSISTANT:
            return None
        return 0, self.markdown.render(message.text)

    def _message(self, message: ChatMessage) -> tuple[ChatMessage, Html | None]:
        return message, self._html(message)

    def _show_chats(self) -> None:
        self.view.chats(self.library.summaries(self.query), self.chat.id, self.query)

    def _warn_history(self) -> None:
        """Say once that history is not being saved (storage refused), then keep going."""
        if self.library.problem and not self._history_warned:
            self._history_warned = True
            self.view.banner(self.library.problem)

    def report(self, error: HearthError, involved: Backend | None) -> None:
        """Show `error`; when a server that `involved` needs is unreachable, offer the
        in-browser model as the way out, or say that it still answers when it already does
        (a switch to the server that failed leaves it answering)."""
        if isinstance(error, RemoteError) and error.unreachable and involved != Backend.BROWSER:
            if self.active == Backend.BROWSER and self.session is not None:
                self._banner_action = None
                self.view.banner(f"{error} Replies still come from the model in this browser.")
                return
            self._banner_action = lambda: self.choose(Backend.BROWSER)
            self.view.banner(str(error), "Use the in-browser model")
        else:
            self._banner_action = None
            self.view.banner(
                str(error), kind="info" if isinstance(error, StoppedEarly) else "error"
            )

    async def _run_banner_action(self) -> None:
        action, self._banner_action = self._banner_action, None
        self.view.hide_banner()  # the page hid it as the button was clicked
        if action is not None:
            await action()

    def _progress(self, text: str) -> None:
        """A provider's news: a model loading, or a long prompt being read."""
        self.view.status(self._doing, text)

    async def _show_models(self) -> None:
        assert self.active is not None
        picker = Backend.BROWSER if self.active == Backend.AUTO else self.active
        models = await self.providers[picker].models()
        self.view.models(picker_options(models), self.opened[picker].model_id)

    def _where(self) -> str:
        """Where replies come from, for the status line."""
        assert self.active is not None
        if self.active != Backend.AUTO:
            return self.providers[self.active].where
        both = (Backend.BROWSER, Backend.FOUNDRY)
        return "Auto: " + " or ".join(self.providers[b].where for b in both if b in self.opened)

    async def _leave_reply(self) -> bool:
        """Whether the open chat may be left now. A reply being written is stopped and
        waited for, as Stop would (what it wrote is kept), so that a click on another chat
        is never silently ignored; while a model loads, the page is told to wait."""
        if self._idle.is_set():
            return True
        if self._doing is not State.GENERATING:
            self.view.banner("A model is still loading: try again once it is ready.", kind="info")
            return False
        while not self._idle.is_set():
            if self.session is not None:
                self.session.stop()  # again each time: the reply may not have started yet
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), LEAVE_POLL_S)
        return True

    @asynccontextmanager
    async def _busy(self, state: State, text: str) -> AsyncIterator[None]:
        self.busy, self._doing = True, state
        self._idle.clear()
        self.view.controls(busy=True, ready=self.session is not None)
        self.view.status(state, text)
        try:
            yield
        finally:
            if self.busy:
                self._settle()
            self._idle.set()  # only now: the reply's last drawing is done

    def _settle(self, figures: bool = True) -> None:
        """Controls, pickers and the status line reflect the active backend again (with the
        last reply's `figures`)."""
        self.busy = False
        session = self.session
        where = self._where() if self.active is not None else ""
        hint = empty_hint(self.active, where, Backend.FOUNDRY in self.opened)
        self.view.backend(self.active or self.prefs.effective.backend, hint)
        if session is None or self.active is None:
            self.view.controls(busy=False, ready=False)
            self.view.status(State.ERROR, "No backend is available")
            return
        self.view.controls(busy=False, ready=True)
        self._show_ready(session.backend.last_stats if figures else None)

    def _show_ready(self, stats: ReplyStats | None) -> None:
        """The ready status line, with the figures of the reply just written (`stats`)."""
        assert self.session is not None
        backend = self.session.backend
        context = backend.context.length if backend.context is not None else None
        model = backend.model
        if self.active == Backend.AUTO and backend is not self.opened.get(Backend.BROWSER):
            model = f"last reply: {model}"  # the Model picker names the in-browser one
        self.view.status(State.READY, ready_text(self._where(), model, stats, context))


class HeldProgress:
    """The progress of a backend opening beside another: held while the other's progress
    is on the status line (one line cannot say both), then shown from `show` on."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self._show = show
        self._last: str | None = None
        self._shown = False

    def __call__(self, text: str) -> None:
        self._last = text
        if self._shown:
            self._show(text)

    def show(self) -> None:
        """From now on, and the last news first (if there is any yet)."""
        self._shown = True
        if self._last is not None:
            self._show(self._last)


def deleted_text(chats: list[Chat]) -> str:
    """'Deleted “Say hello.”' (no doubled stop), or 'Deleted 2 chats: “A” and “B”.'"""
    titles = [f"“{c.title or 'New chat'}”" for c in chats]
    if len(titles) == 1:
        end = "" if titles[0].endswith((".”", "!”", "?”", "…”")) else "."
        return f"Deleted {titles[0]}{end}"
    return f"Deleted {len(titles)} chats: {', '.join(titles[:-1])} and {titles[-1]}."


def _count(backend: ChatBackend, text: str, limit: int) -> int:
    """`text`'s tokens as the in-page model counts a user message, without the template's
    own (stops counting past `limit`)."""
    window = backend.context
    assert window is not None
    empty = window.count([Message(Role.USER, "")], limit)
    return window.count([Message(Role.USER, text)], limit + empty) - empty


def _bytes(value: object) -> bytes:
    """A file's bytes as the page sends them (a Uint8Array arrives as a memoryview)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return b""
