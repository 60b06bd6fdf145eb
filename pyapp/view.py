"""What the page shows, as messages to the main thread's renderer (site/ui.js).

Python runs in a Web Worker and never touches the DOM: it sends small commands ("status",
"message", "banner", ...) and the main thread applies them. Plain dicts over an injected
`send`, so every command the app sends is checked in CPython tests; the browser layer
only supplies `postMessage`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyapp.chats import Attached, ChatMessage
from pyapp.library import ChatSummary
from pyapp.route import explain, label
from pyapp.settings import Backend, Settings, as_typed
from pyapp.stats import StopReason
from pyapp.status import State

Send = Callable[[dict[str, Any]], None]
PANEL = ("system", "temperature", "top_p", "max_tokens", "route_tokens")  # the settings panel
# what the panel starts from (its "Use default" puts the system prompt back)
DEFAULTS = {name: as_typed(getattr(Settings(), name)) for name in PANEL}
WHO = {"browser": "In this browser", "foundry": "Foundry Local"}  # an answer's badge
# Rendered Markdown: the index of the first block that changed, and the blocks from there.
Html = tuple[int, list[str]]


def message_view(message: ChatMessage, html: Html | None = None) -> dict[str, Any]:
    """A message as the renderer needs it; `data` becomes the element's data-* attributes
    (the figures tests and the benchmark read: data-ttft-ms, data-decode-tok-s, ...).
    `html`, when given, is the reply's Markdown, sanitised by the renderer before use;
    `text` stays the raw Markdown (Copy puts it on the clipboard)."""
    data: dict[str, str] = {}
    stats = message.stats
    if stats is not None:
        data["ttftMs"] = f"{stats.ttft_s * 1000:.1f}"
        if stats.decode_tok_s is not None:
            data["decodeTokS"] = f"{stats.decode_tok_s:.2f}"
        if stats.generated_tokens is not None:
            data["generated"] = str(stats.generated_tokens)
        if stats.prompt_tokens is not None:
            data["promptTokens"] = str(stats.prompt_tokens)
        if stats.reason == StopReason.MAX_TOKENS:  # the page says the reply was cut off
            data["cut"] = "true"
    view: dict[str, Any] = {
        "id": message.id,
        "role": message.role.value,
        "text": message.text,
        "state": message.state.value,
        "backend": message.backend,
        "model": message.model,
        "data": data,
    }
    if message.attachments:
        view["attachments"] = [chip(a) for a in message.attachments]
    if message.route and message.backend in WHO:  # chosen by Auto: say who answered and why
        short = label(message.route)
        text = f"{WHO[message.backend]} · {short}" if short else WHO[message.backend]
        view["badge"] = {"text": text, "why": explain(message.route)}
        view["route"] = message.route
    if html is not None:
        view["html"] = {"start": html[0], "blocks": html[1]}
    return view


def chip(file: Attached) -> dict[str, Any]:
    return {"name": file.name, "tokens": file.tokens, "estimated": file.estimated}


@dataclass(frozen=True)
class Banner:
    text: str
    action: str | None = None
    kind: str = "error"


class View:
    def __init__(self, send: Send) -> None:
        self._send = send
        self.shown: Banner | None = None  # the banner on the page (there is one at most)

    def _op(self, op: str, **data: Any) -> None:
        self._send({"op": op, **data})

    def version(self, text: str, title: str) -> None:
        self._op("version", text=text, title=title)

    def status(self, state: State, text: str) -> None:
        self._op("status", state=state.value, text=text)

    def phases(self, seconds: Mapping[str, float]) -> None:
        """How long each part of getting ready took, for the benchmark (on the status line's
        `data-phases`)."""
        self._op("phases", seconds={name: round(value, 3) for name, value in seconds.items()})

    def banner(self, text: str, action: str | None = None, kind: str = "error") -> None:
        """The banner ("error" or "info"), optionally with one button that offers the way
        out or an Undo (its click comes back as the `banner_action` event)."""
        self._op("banner", text=text, action=action, kind=kind)
        self.shown = Banner(text, action, kind)

    def link_preset(self, notice: str | None) -> None:
        """The lasting sign that a link's presets are in force (None: none are)."""
        self._op("link_preset", text=notice)

    def forget_params(self, names: Sequence[str]) -> None:
        """Drop these URL parameters from the address, so a reload does not apply them."""
        self._op("forget_params", names=list(names))

    def hide_banner(self) -> None:
        self._op("banner_hide")
        self.shown = None

    def controls(self, busy: bool, ready: bool) -> None:
        """While a reply streams: Stop on, Send and the pickers off; Send also stays off
        until a backend is ready."""
        self._op("controls", busy=busy, ready=ready)

    def backend(self, choice: Backend, hint: str = "") -> None:
        """The Backend picker's value, and what an empty chat says about it."""
        self._op("backend", value=choice.value, hint=hint)

    def models(self, options: Sequence[tuple[str, str]], selected: str | None) -> None:
        self._op("models", options=[list(o) for o in options], selected=selected)

    def tab_chat(self, chat_id: str) -> None:
        """Keep `chat_id` as this tab's open chat, for its reload (`Tab`)."""
        self._op("tab_chat", id=chat_id)

    def settings(self, settings: Settings) -> None:
        self._op(
            "settings",
            values={name: as_typed(getattr(settings, name)) for name in PANEL},
            defaults=DEFAULTS,
        )

    def messages(self, messages: Sequence[tuple[ChatMessage, Html | None]]) -> None:
        """Show exactly these messages (a chat was opened or started)."""
        self._op("messages", items=[message_view(m, html) for m, html in messages])

    def message(self, message: ChatMessage, html: Html | None = None) -> None:
        """Add the message, or update it in place if it is shown."""
        self._op("message", item=message_view(message, html))

    def attachments(self, files: Sequence[Attached]) -> None:
        """The files waiting to go with the next message, as removable chips."""
        self._op("attachments", items=[chip(f) for f in files])

    def remove(self, ids: Sequence[str]) -> None:
        self._op("remove", ids=list(ids))

    def keep(self, ids: Sequence[str]) -> None:
        """Remove every shown message whose id is not in `ids`."""
        self._op("keep", ids=list(ids))

    def chats(self, summaries: Sequence[ChatSummary], active: str, query: str) -> None:
        """The chat list (newest first; filtered when `query` is set), `active` marked."""
        items = [{"id": s.id, "title": s.title} for s in summaries]
        self._op("chats", items=items, active=active, query=query)

    def download(self, name: str, mime: str, text: str) -> None:
        """Offer `text` as a file to save (Export)."""
        self._op("download", name=name, mime=mime, text=text)

    def prompt(self, text: str) -> None:
        """Put text in the prompt box and focus it."""
        self._op("prompt", text=text)

    def give_back(self, text: str) -> None:
        """Put a message that was not sent back in the prompt box, before what was typed
        there since (the box stays on while a reply is written), so neither is lost."""
        self._op("give_back", text=text)
