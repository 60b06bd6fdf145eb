"""The real Foundry Local behind serve.py's proxy, driven by the same `RemoteBackend` and
official `openai` client the page runs (here in CPython, over httpx's own transport)."""

from __future__ import annotations

import json
import urllib.request

import openai

from pyapp.backends import ReplyOptions
from pyapp.errors import RemoteError
from pyapp.remote import RemoteBackend, request
from pyapp.stats import StopReason
from pyapp.templates import Message, Role
from tests.conftest import SYSTEM, ServerProcess, run_async
from tests.foundry.local import MODEL_ID, Foundry

QUESTION = "What is the capital of France?"
GREEDY = ReplyOptions(temperature=0, max_tokens=48)
ASKED = [Message(Role.SYSTEM, SYSTEM), Message(Role.USER, QUESTION)]


def get_json(url: str, data: bytes | None = None) -> dict[str, object]:
    # a POST body is JSON, and says so: serve.py refuses anything else (415)
    headers = {"Content-Type": "application/json"} if data is not None else {}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=120) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


async def through_proxy(server: ServerProcess) -> tuple[str, RemoteBackend]:
    client = openai.AsyncOpenAI(base_url=server.url + "foundry/v1", api_key="unused")
    backend = RemoteBackend(client, MODEL_ID)
    reply = "".join([piece async for piece in backend.reply(ASKED, GREEDY, lambda: False)])
    await client.close()
    return reply, backend


async def direct(foundry: Foundry, request: dict[str, object]) -> str:
    client = openai.AsyncOpenAI(base_url=foundry.base + "/v1", api_key="unused")
    stream = await client.chat.completions.create(**request)  # type: ignore[call-overload]
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await client.close()
    return text


def test_streamed_reply_through_the_proxy_equals_the_direct_one(
    foundry: Foundry, foundry_server: ServerProcess
) -> None:
    reply, backend = run_async(through_proxy(foundry_server))
    assert "Paris" in reply
    assert backend.last_stats is not None and backend.last_stats.reason == StopReason.EOS
    assert run_async(direct(foundry, request(MODEL_ID, ASKED, GREEDY))) == reply


def test_status_and_model_listing_see_the_real_service(
    foundry: Foundry, foundry_server: ServerProcess
) -> None:
    status = get_json(foundry_server.url + "api/foundry/status")
    assert status["reachable"] is True and status["url"] == foundry.base
    listing = get_json(foundry_server.url + "api/foundry/models")
    assert {"id": MODEL_ID, "loaded": True} in listing["models"]  # type: ignore[operator]
    assert listing["managed"] is True  # the v2 service's /models/loaded answered


def test_a_model_is_loaded_by_its_alias_through_the_proxy(
    foundry: Foundry, foundry_server: ServerProcess
) -> None:
    get_json(f"{foundry.base}/models/unload/{foundry.alias}")
    listing = get_json(foundry_server.url + "api/foundry/models")
    assert {"id": MODEL_ID, "loaded": False} in listing["models"]  # type: ignore[operator]
    body = json.dumps({"model": MODEL_ID}).encode()
    loaded = get_json(foundry_server.url + "api/foundry/load", body)
    assert loaded == {"status": "loaded", "model": MODEL_ID, "name": foundry.alias}
    listing = get_json(foundry_server.url + "api/foundry/models")
    assert {"id": MODEL_ID, "loaded": True} in listing["models"]  # type: ignore[operator]


def test_an_unknown_model_is_the_upstreams_message(foundry_server: ServerProcess) -> None:
    async def ask() -> None:
        client = openai.AsyncOpenAI(base_url=foundry_server.url + "foundry/v1", api_key="x")
        backend = RemoteBackend(client, "no-such-model:1")
        try:
            async for _ in backend.reply(ASKED, GREEDY, lambda: False):
                pass
        finally:
            await client.close()

    try:
        run_async(ask())
    except RemoteError as error:
        assert "answered HTTP" in str(error) and not error.unreachable
    else:
        raise AssertionError("an unknown model was accepted")
