"""The Foundry Local backend in the page: the official openai client (loaded the first
time the backend is chosen) over a fetch transport, talking to serve.py's same-origin
proxy, plus the proxy's status and model-management routes for the picker."""

from __future__ import annotations

import json
from typing import Any

from pyodide.http import pyfetch

from pyapp.browser.packages import load_packages
from pyapp.browser.ui import Page
from pyapp.conversation import Conversation
from pyapp.errors import HearthError, RemoteError

PLACEHOLDER_KEY = "set-by-serve.py"  # the proxy adds the real API_KEY, if any


class FoundryBackend:
    def __init__(self, client: Any, status: dict[str, Any]) -> None:
        self.client = client
        self.status = status
        self.models: dict[str, bool] = {}  # id -> loaded

    @classmethod
    async def open(cls) -> FoundryBackend:
        """Check the upstream first (fast, clear error), then load the client."""
        status = await _get_json("api/foundry/status")
        if not status.get("reachable"):
            raise RemoteError(str(status.get("message")), unreachable=True)
        await load_packages("openai")
        import httpx
        import openai

        from pyapp.browser.fetch_transport import FetchTransport

        client = openai.AsyncOpenAI(
            base_url=Page.url("foundry/v1"),
            api_key=PLACEHOLDER_KEY,
            http_client=httpx.AsyncClient(transport=FetchTransport(), timeout=None),
            max_retries=0,  # the proxy already reports a down upstream clearly; fail fast
        )
        return cls(client, status)

    @property
    def label(self) -> str:
        return f"Foundry Local at {self.status.get('url')}"

    async def refresh_models(self) -> list[str]:
        listing = await _get_json("api/foundry/models")
        self.models = {m["id"]: bool(m["loaded"]) for m in listing["models"]}
        if not self.models:
            raise HearthError(
                f"{self.label} lists no models. Download one with `foundry model download <name>`."
            )
        return list(self.models)

    def preferred(self, wanted: str | None) -> str:
        """The requested model if listed, else the server's default (MODEL), else the
        first loaded one, else the first."""
        for candidate in (wanted, self.status.get("model")):
            if candidate in self.models:
                return str(candidate)
        return next((m for m, loaded in self.models.items() if loaded), next(iter(self.models)))

    async def load(self, model: str) -> None:
        await _post_json("api/foundry/load", {"model": model})
        self.models[model] = True

    def chat(self, model: str, conversation: Conversation) -> Any:
        from pyapp.remote import RemoteChat

        return RemoteChat(self.client, model, conversation)


async def _get_json(relative: str) -> dict[str, Any]:
    return await _answer(await pyfetch(Page.url(relative)))


async def _post_json(relative: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await pyfetch(
        Page.url(relative),
        method="POST",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body),
    )
    return await _answer(response)


async def _answer(response: Any) -> dict[str, Any]:
    data = await response.json()
    if not response.ok:
        message = data.get("error", {}).get("message") or f"HTTP {response.status}"
        raise RemoteError(str(message), unreachable=response.status in (502, 503, 504))
    return data  # type: ignore[no-any-return]
