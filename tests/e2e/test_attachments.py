"""Documents in the chat (#16): .txt and .pdf files, by the file picker or by drag and drop,
reach the model's context, show as chips with their token count, and are kept with the chat.

The context checks use the real in-page model. "Answered from the file" uses the fake
upstream behind the real serve.py, which answers with the secret word wherever it finds it
in the request, so the answer shows that the file's text, and only that, carried the fact.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.conftest import ASSISTANT, PageSession, ask, new_chat, page_session
from tests.support.fake_openai import FakeOpenAI
from tests.support.pdf import text_pdf

NOTES = "Meeting notes.\nThe harbour wall needs repair before winter.\nBudget: 12,000 euros.\n"
REPORT = [["Quarterly report", "Sales rose in the north."], ["Page two", "Costs fell."]]
CHIPS = "[data-testid=attachments] [data-testid=attachment]"


def attach(page: Any, *files: tuple[str, str, bytes]) -> None:
    page.set_input_files(
        "[data-testid=attach]",
        files=[{"name": n, "mimeType": m, "buffer": b} for n, m, b in files],
    )


def drop(page: Any, name: str, mime: str, data: bytes) -> None:
    """Drop a file on the message box, as dragging it from the desktop does."""
    page.evaluate(
        """([name, mime, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], name, { type: mime }));
          const target = document.querySelector("#composer");
          for (const type of ["dragover", "drop"]) {
            const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
            target.dispatchEvent(new DragEvent(type, init));
          }
        }""",
        [name, mime, base64.b64encode(data).decode()],
    )


def prompt_tokens(reply: Any) -> int:
    return int(reply.get_attribute("data-prompt-tokens"))


def test_attached_text_and_pdf_reach_the_in_page_models_context(chat: PageSession) -> None:
    chat.open("?temperature=0&max_tokens=4&seed=1")
    chat.wait_state("ready", timeout_s=120)
    page: Any = chat.page
    bare = prompt_tokens(ask(chat, "What do these files say?"))

    new_chat(page)
    attach(
        page,
        ("notes.txt", "text/plain", NOTES.encode()),
        ("report.pdf", "application/pdf", text_pdf(REPORT)),
    )
    page.locator(CHIPS).nth(1).wait_for()
    names = page.locator(f"{CHIPS} .chip-name").all_inner_texts()
    assert names == ["notes.txt", "report.pdf"]
    page.reload()  # not sent yet: the files wait for the message, also across a reload
    chat.wait_state("ready", timeout_s=120)
    page.locator(CHIPS).nth(1).wait_for()
    assert page.locator(f"{CHIPS} .chip-name").all_inner_texts() == names
    new_chat(page)  # the reload reopened the chat above; the files stay with the message box
    assert page.locator(f"{CHIPS} .chip-name").all_inner_texts() == names
    shown = page.eval_on_selector_all(CHIPS, "els => els.map(e => e.dataset.tokens)")
    sizes = [int(t) for t in shown]
    assert all(size > 5 for size in sizes), sizes
    reply = ask(chat, "What do these files say?")
    added = prompt_tokens(reply) - bare
    # the files' own tokens, plus a few for their names and delimiters
    assert sum(sizes) <= added <= sum(sizes) + 40, (sizes, added)
    assert page.locator(CHIPS).count() == 0  # sent: the composer is empty again

    page.reload()  # kept with the chat
    chat.wait_state("ready", timeout_s=120)
    kept = page.locator("[data-testid=message][data-role=user] [data-testid=attachment] .chip-name")
    assert kept.all_inner_texts() == ["notes.txt", "report.pdf"]


BOOK = ("book.txt", "text/plain", ("A line of a very long book. " * 8000).encode())


def test_a_file_too_long_for_the_in_page_model_says_so(chat: PageSession) -> None:
    """serve.py found no Foundry Local here: no button offers what can only fail."""
    chat.open()
    chat.wait_state("ready", timeout_s=120)
    page: Any = chat.page
    attach(page, BOOK)
    banner = page.locator("[data-testid=error]")
    banner.wait_for()
    text = banner.inner_text()
    assert "book.txt is" in text and "tokens" in text
    assert "Foundry Local, which could take it, cannot be reached now" in text
    assert page.locator("[data-testid=error-action]").is_hidden()
    tokens = int(page.locator(CHIPS).get_attribute("data-tokens"))
    assert f"{tokens:,}" in text


def test_a_file_too_long_for_the_in_page_model_offers_a_foundry_that_answers(
    browser: object, fake_server: object
) -> None:
    """The fake upstream stands in for Foundry Local: the point is that one answers."""
    with page_session(browser, fake_server) as chat:  # type: ignore[arg-type]
        chat.open()
        chat.wait_state("ready", timeout_s=120)
        page: Any = chat.page
        attach(page, BOOK)
        action = page.locator("[data-testid=error-action]")
        action.wait_for()
        assert action.inner_text() == "Use Foundry Local"
        action.click()
        chat.wait_state("ready", timeout_s=60)
        assert page.input_value("[data-testid=backend]") == "foundry"
        assert page.locator(CHIPS).count() == 1  # the file stays, for Foundry to read


def test_a_question_about_a_file_is_answered_from_it(
    browser: object, fake_server: object, upstream: FakeOpenAI
) -> None:
    with page_session(browser, fake_server) as chat:  # type: ignore[arg-type]
        chat.open("?backend=foundry")
        chat.wait_state("ready", timeout_s=120)
        page: Any = chat.page
        attach(page, ("facts.txt", "text/plain", b"Notes.\nThe secret word is marmalade.\n"))
        page.locator(CHIPS).wait_for()
        reply = ask(chat, "What is the secret word?")
        assert reply.locator(".content").inner_text().startswith("The secret word is marmalade.")  # type: ignore[attr-defined]
        sent = upstream.chats()[-1]["messages"][-1]["content"]
        assert "facts.txt" in sent and "marmalade" in sent

        new_chat(page)
        memo = text_pdf([["Memo"], ["The secret word is quince."]])
        drop(page, "memo.pdf", "application/pdf", memo)
        page.locator(CHIPS).wait_for()
        reply = ask(chat, "What is the secret word?")
        assert reply.locator(".content").inner_text().startswith("The secret word is quince.")  # type: ignore[attr-defined]
        assert "marmalade" not in json.dumps(upstream.chats()[-1])  # a new chat: only its file
        assert page.locator(ASSISTANT).count() == 1
