"""The page's DOM as a small Python class. Runs in the worker: PyScript proxies each call to
the main thread synchronously, so element handles are looked up once and kept, and a
streamed reply is written with one `textContent` assignment per chunk."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urljoin

from pyodide.ffi import create_proxy
from pyscript import document, window

from pyapp.generate import Stats
from pyapp.settings import Backend, Settings
from pyapp.status import State

SETTINGS_KEY = "hearth.settings"
BACKEND_KEY = "hearth.backend"
EDITABLE = ("system", "temperature", "top_p", "max_tokens")


class MessageView:
    def __init__(self, element: Any) -> None:
        self.element = element
        self.text = ""

    def append(self, chunk: str) -> None:
        self.text += chunk
        self.element.textContent = self.text

    def finish(
        self,
        stats: Stats | None = None,
        prompt_tokens: int | None = None,
        stopped: bool = False,
        interrupted: bool = False,
    ) -> None:
        """Mark the reply done, with its figures as data attributes (the benchmark reads
        them): time to first token, decode rate and tokens generated."""
        if stats is not None:
            self.element.dataset.ttftMs = f"{stats.ttft_s * 1000:.1f}"
            self.element.dataset.decodeTokS = f"{stats.decode_tok_s:.2f}"
            self.element.dataset.generated = str(stats.generated_tokens)
        if prompt_tokens is not None:
            self.element.dataset.promptTokens = str(prompt_tokens)
        if stopped:
            self.element.dataset.stopped = "true"
        if interrupted:
            self.element.dataset.interrupted = "true"
        self.element.dataset.done = "true"

    def remove(self) -> None:
        self.element.remove()


class Page:
    def __init__(self) -> None:
        get = document.getElementById
        self._status = get("status")
        self._error = get("error")
        self._error_text = get("error-text")
        self._error_action = get("error-action")
        self._on_error_action: Callable[[], None] | None = None
        self._version = get("version")
        self._messages = get("messages")
        self.prompt = get("prompt")
        self.send = get("send")
        self.stop = get("stop")
        self.backend = get("backend")
        self.model = get("model")
        self.new_chat = get("new-chat")
        self._settings = {name: get(f"setting-{name}") for name in EDITABLE}
        self._proxies: list[Any] = []
        self.on(self._error_action, "click", lambda event: self._run_error_action())

    @staticmethod
    def url(relative: str) -> str:
        """An absolute URL for a file of the site. The worker runs from a blob: URL,
        so relative fetches would not resolve against the page."""
        return urljoin(str(window.location.href), relative)

    @staticmethod
    def query() -> str:
        return str(window.location.search)

    def on(self, element: Any, event: str, handler: Callable[[Any], None]) -> None:
        proxy = create_proxy(handler)
        self._proxies.append(proxy)
        element.addEventListener(event, proxy)

    def set_status(self, state: State, text: str) -> None:
        self._status.textContent = text
        self._status.dataset.state = state.value

    def show_error(self, text: str, action: tuple[str, Callable[[], None]] | None = None) -> None:
        """The banner, optionally with one button that offers the way out."""
        self._error_text.textContent = text
        self._error_action.hidden = action is None
        if action is not None:
            self._error_action.textContent, self._on_error_action = action
        self._error.hidden = False

    def _run_error_action(self) -> None:
        self.hide_error()
        if self._on_error_action is not None:
            self._on_error_action()

    def hide_error(self) -> None:
        self._error.hidden = True

    def set_version(self, text: str, title: str) -> None:
        self._version.textContent = text
        self._version.title = title

    def set_busy(self, busy: bool) -> None:
        """While a reply streams: Stop on, Send and the pickers off."""
        self.prompt.disabled = False
        self.send.disabled = busy
        self.stop.disabled = not busy
        self.backend.disabled = busy
        self.model.disabled = busy
        self.new_chat.disabled = busy

    def set_models(self, models: list[tuple[str, str]], selected: str) -> None:
        self.model.innerHTML = ""
        for value, label in models:
            option = document.createElement("option")
            option.value = value
            option.textContent = label
            self.model.appendChild(option)
        self.model.value = selected

    def add_message(self, role: str, text: str = "") -> MessageView:
        element = document.createElement("div")
        element.dataset.testid = "message"
        element.dataset.role = role
        element.dataset.done = "false"
        element.textContent = text
        self._messages.appendChild(element)
        element.scrollIntoView(False)
        return MessageView(element)

    def clear_messages(self) -> None:
        self._messages.replaceChildren()

    def take_prompt(self) -> str:
        text = str(self.prompt.value)
        self.prompt.value = ""
        return text

    # settings: localStorage first, then URL parameters, shown in the settings panel

    def load_settings(self) -> Settings:
        raw = window.localStorage.getItem(SETTINGS_KEY)
        try:
            saved = json.loads(raw) if raw else {}
        except ValueError:
            saved = {}  # a corrupted entry must not stop the app
        settings, _ = Settings().with_query(_encode(saved))
        backend = window.localStorage.getItem(BACKEND_KEY)
        if backend:
            settings, _ = settings.with_query(urlencode({"backend": str(backend)}))
        return settings

    def save_backend(self, backend: Backend) -> None:
        try:
            window.localStorage.setItem(BACKEND_KEY, backend.value)
        except Exception:  # noqa: BLE001 - storage full or disabled: the choice is per tab
            pass

    def save_settings(self, settings: Settings) -> None:
        data = {name: getattr(settings, name) for name in EDITABLE}
        try:
            window.localStorage.setItem(SETTINGS_KEY, json.dumps(data))
        except Exception:  # noqa: BLE001 - QuotaExceededError or storage disabled
            self.show_error(
                "Settings could not be saved (browser storage is full or disabled); "
                "they apply to this tab only."
            )

    def show_settings(self, settings: Settings) -> None:
        for name, element in self._settings.items():
            element.value = str(getattr(settings, name))

    def read_settings(self, settings: Settings) -> tuple[Settings, list[str]]:
        values = {name: str(element.value) for name, element in self._settings.items()}
        return settings.with_query(_encode(values))


def _encode(values: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in values.items() if k in EDITABLE})
