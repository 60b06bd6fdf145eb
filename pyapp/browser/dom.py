"""The page's DOM, as a small Python class. Runs in the worker; PyScript proxies each call
to the main thread synchronously, so element handles are looked up once and kept."""

from __future__ import annotations

from urllib.parse import urljoin

from pyscript import document, window

from pyapp.status import State


class Page:
    def __init__(self) -> None:
        self._status = document.getElementById("status")
        self._error = document.getElementById("error")
        self._error_text = document.getElementById("error-text")
        self._version = document.getElementById("version")
        self._inputs = [
            document.getElementById(name) for name in ("prompt", "send", "backend", "model")
        ]

    @staticmethod
    def url(relative: str) -> str:
        """An absolute URL for a file of the site. The worker runs from a blob: URL,
        so relative fetches would not resolve against the page."""
        return urljoin(str(window.location.href), relative)

    @staticmethod
    def query() -> str:
        """The URL's query string, which presets settings."""
        return str(window.location.search)

    def set_status(self, state: State, text: str) -> None:
        self._status.textContent = text
        self._status.dataset.state = state.value

    def show_error(self, text: str) -> None:
        self._error_text.textContent = text
        self._error.hidden = False

    def set_version(self, text: str) -> None:
        self._version.textContent = text

    def enable_inputs(self, enabled: bool) -> None:
        for element in self._inputs:
            element.disabled = not enabled
