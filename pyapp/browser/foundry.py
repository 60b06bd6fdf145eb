"""Foundry Local (or any OpenAI-compatible server) as a backend provider in the page: the
official openai client (loaded the first time the backend is chosen) over a fetch
transport, talking to serve.py's same-origin proxy, plus the proxy's status and
model-management routes for the picker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyodide.http import pyfetch

from pyapp.browser import host
from pyapp.browser.packages import load_packages
from pyapp.errors import HearthError, RemoteError
from pyapp.status import ModelOption, loading_text

if TYPE_CHECKING:  # importing it for real needs openai, which loads on first use
    from pyapp.remote import RemoteBackend

PLACEHOLDER_KEY = "set-by-serve.py"  # the proxy adds the real API_KEY, if any
SERVE_PY_DOWN = (
    "serve.py is not running, so Foundry Local cannot be reached from this page. "
    "Start it (`.venv/bin/python serve.py` in the Hearth folder) and try again."
)


class FoundryProvider:
    def __init__(self) -> None:
        self.client: Any = None
        self.status: dict[str, Any] = {}
        self.loaded: dict[str, bool] = {}  # model id -> loaded in the server

    @property
    def where(self) -> str:
        return f"Foundry Local at {self.status.get('url')}"

    async def models(self) -> list[ModelOption]:
        return [ModelOption(m, m, loaded) for m, loaded in self.loaded.items()]

    async def open(self, model: str | None, progress: Callable[[str], None]) -> RemoteBackend:
        if self.client is None:
            progress("Connecting to Foundry Local…")
            self.client = await self._connect()
        await self._refresh()
        chosen = self._preferred(model)
        if not self.loaded[chosen]:
            await self._load(chosen, progress)
        from pyapp.remote import RemoteBackend  # needs openai, loaded by _connect

        return RemoteBackend(self.client, chosen)

    async def reachable(self) -> bool:
        """serve.py answers and says its upstream does (serve.py gone: it cannot)."""
        try:
            status = await _get_json("api/foundry/status")
        except HearthError:
            return False
        return bool(status.get("reachable"))

    async def _connect(self) -> Any:  # an openai.AsyncOpenAI (openai loads on first use)
        """Check the upstream first (fast, clear error), then load the client."""
        self.status = await _get_json("api/foundry/status")
        if not self.status.get("reachable"):
            raise RemoteError(str(self.status.get("message")), unreachable=True)
        await load_packages("openai")
        import httpx
        import openai

        from pyapp.browser.fetch_transport import FetchTransport

        return openai.AsyncOpenAI(
            base_url=host.url("foundry/v1"),
            api_key=PLACEHOLDER_KEY,
            http_client=httpx.AsyncClient(transport=FetchTransport(), timeout=None),
            max_retries=0,  # the proxy already reports a down upstream clearly; fail fast
        )

    async def _refresh(self) -> None:
        listing = await _get_json("api/foundry/models")
        self.loaded = {str(m["id"]): bool(m["loaded"]) for m in listing["models"]}
        if not self.loaded:
            raise HearthError(
                f"{self.where} lists no models. Download one with `foundry model download <name>`."
            )

    def _preferred(self, wanted: str | None) -> str:
        """The requested model if listed, else the server's default (MODEL), else the
        first loaded one, else the first."""
        for candidate in (wanted, self.status.get("model")):
            if candidate in self.loaded:
                return str(candidate)
        return next((m for m, loaded in self.loaded.items() if loaded), next(iter(self.loaded)))

    async def _load(self, model: str, progress: Callable[[str], None]) -> None:
        """Load `model` in the server, showing the seconds as they pass."""
        started = time.monotonic()
        progress(loading_text(model))
        task = asyncio.ensure_future(_post_json("api/foundry/load", {"model": model}))
        while not task.done():
            await asyncio.wait({task}, timeout=1.0)
            progress(loading_text(model, time.monotonic() - started))
        task.result()
        self.loaded[model] = True


async def _get_json(relative: str) -> dict[str, Any]:
    return await _answer(lambda: pyfetch(host.url(relative)))


async def _post_json(relative: str, body: dict[str, Any]) -> dict[str, Any]:
    return await _answer(
        lambda: pyfetch(
            host.url(relative),
            method="POST",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body),
        )
    )


async def _answer(request: Callable[[], Any]) -> dict[str, Any]:
    """The JSON answer, or one RemoteError that says what to do."""
    try:
        response = await request()
        data = await response.json()
    except Exception:  # noqa: BLE001 - no answer, or not JSON: serve.py is gone
        raise RemoteError(SERVE_PY_DOWN, unreachable=True) from None
    if not isinstance(data, dict):
        raise RemoteError(SERVE_PY_DOWN, unreachable=True)
    if not response.ok:
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        raise RemoteError(
            str(message or f"HTTP {response.status}"),
            unreachable=response.status in (502, 503, 504),
        )
    return data
