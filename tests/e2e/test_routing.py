"""Auto (#16): each message goes to the in-page model or to Foundry, by privacy and length.

Foundry here is the fake OpenAI-compatible upstream behind the real serve.py: the point is
to see exactly what reached it (its request log), not what a real model would say. The
in-page model is the real one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import (
    ASSISTANT,
    ServerProcess,
    ask,
    banner_saying,
    new_chat,
    page_session,
    start_server,
    stop_server,
)
from tests.e2e.replies import FOUNDRY_SAYS
from tests.support.fake_openai import FakeOpenAI

AUTO = "?backend=auto&temperature=0&max_tokens=12&seed=1"
EMAIL = "jane.doe@example.com"
SENTENCES = [
    "The harbour town woke slowly as the fishing boats came back with the tide.",
    "Merchants opened their shutters and argued about the price of salt and rope.",
    "Children ran along the sea wall, counting gulls and daring each other to jump.",
    "By noon the market smelled of bread, tar and oranges from the southern ships.",
    "An old clockmaker repaired the tower bell that had been silent for a decade.",
]


def document(sentences: int) -> str:
    """Plain prose without personal data: five sentences are about 80 tokens."""
    return " ".join(SENTENCES[i % len(SENTENCES)] for i in range(sentences))


def reached_upstream(upstream: FakeOpenAI, text: str) -> bool:
    return any(text in json.dumps(seen.body) for seen in upstream.seen)


def test_auto_keeps_personal_data_here_and_sends_a_long_document_to_foundry(
    browser: object, fake_server: object, upstream: FakeOpenAI
) -> None:
    with page_session(browser, fake_server) as chat:  # type: ignore[arg-type]
        # a low threshold, so that "long" costs the in-page model 160 tokens, not 1,600
        chat.open(AUTO + "&route_tokens=64")
        chat.wait_state("ready", timeout_s=120)
        page = chat.page

        private = ask(chat, f"My email is {EMAIL}, write me a haiku")
        assert private.get_attribute("data-backend") == "browser"  # type: ignore[attr-defined]
        assert private.get_attribute("data-route-reason") == "personal-data"  # type: ignore[attr-defined]
        badge = private.locator("[data-testid=route-badge]")  # type: ignore[attr-defined]
        assert badge.inner_text().startswith("In this browser")
        assert "email" in (badge.get_attribute("title") or "")
        assert EMAIL not in (badge.get_attribute("title") or "")  # the reason never repeats it
        # A follow-up would carry the email along: it stays here too, even when long.
        follow = ask(chat, document(10) + "\n\nSummarize")
        assert follow.get_attribute("data-backend") == "browser"  # type: ignore[attr-defined]
        assert follow.get_attribute("data-route-reason") == "personal-data"  # type: ignore[attr-defined]

        new_chat(page)
        long = ask(chat, document(10) + "\n\nSummarize")
        assert long.get_attribute("data-backend") == "foundry"  # type: ignore[attr-defined]
        assert long.get_attribute("data-route-reason") == "long-prompt"  # type: ignore[attr-defined]
        assert long.locator(".content").inner_text() == FOUNDRY_SAYS  # type: ignore[attr-defined]
        assert long.locator("[data-testid=route-badge]").inner_text().startswith("Foundry Local")  # type: ignore[attr-defined]
        assert upstream.chats()[-1]["messages"][-1]["content"].endswith("Summarize")
        assert not reached_upstream(upstream, EMAIL)

        short = ask(chat, "Thanks. In one word, what is salt?")
        assert short.get_attribute("data-backend") == "browser"  # type: ignore[attr-defined]
        assert short.get_attribute("data-route-reason") == "short-prompt"  # type: ignore[attr-defined]

        page.reload()  # the labels are kept with the chat
        chat.wait_state("ready", timeout_s=120)
        reasons = page.eval_on_selector_all(  # type: ignore[attr-defined]
            ASSISTANT, "els => els.map(e => [e.dataset.backend, e.dataset.routeReason])"
        )
        assert reasons == [["foundry", "long-prompt"], ["browser", "short-prompt"]]


@pytest.fixture(scope="module")
def no_foundry() -> Iterator[ServerProcess]:
    # Foundry Local, said to be where nothing listens
    server = start_server(env={"FOUNDRY_LOCAL_URL": "http://127.0.0.1:9"})
    yield server
    stop_server(server)


def test_auto_without_foundry_stays_here_and_says_so(
    browser: object, no_foundry: ServerProcess
) -> None:
    with page_session(browser, no_foundry) as chat:
        chat.open(AUTO + "&route_tokens=64")
        chat.wait_state("ready", timeout_s=120)
        banner = chat.page.locator("[data-testid=error]")  # type: ignore[attr-defined]
        banner.wait_for()
        assert "Foundry Local cannot be reached" in banner.inner_text()
        reply = ask(chat, document(10) + "\n\nSummarize")
        assert reply.get_attribute("data-backend") == "browser"  # type: ignore[attr-defined]
        assert reply.get_attribute("data-route-reason") == "foundry-down"  # type: ignore[attr-defined]
        why = reply.locator("[data-testid=route-badge]").get_attribute("title")  # type: ignore[attr-defined]
        assert "Foundry" in (why or "")


def test_foundry_down_at_boot_leaves_the_in_browser_model_answering(
    browser: object, no_foundry: ServerProcess
) -> None:
    with page_session(browser, no_foundry) as chat:
        chat.open("?backend=foundry&temperature=0&max_tokens=12")
        chat.wait_state("ready", timeout_s=120)
        page = chat.page
        text = banner_saying(page, "For now, replies come from the model in this browser")
        assert "Foundry Local is not answering" in text.inner_text()
        # the command to run shows as code, not between backticks
        assert text.locator("code").all_inner_texts() == ["foundry service start"]
        assert "`" not in text.inner_text()
        assert page.locator("[data-testid=backend]").input_value() == "browser"
        reply = ask(chat, "What is the capital of France?")
        assert reply.get_attribute("data-backend") == "browser"  # type: ignore[attr-defined]
        assert "Paris" in reply.inner_text()  # type: ignore[attr-defined]
