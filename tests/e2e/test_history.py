"""Chats that last: saved in the browser, listed, reopened after a reload, kept mid-reply,
exported and imported, and still usable when the browser refuses storage."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import (
    ASSISTANT,
    PageSession,
    ServerProcess,
    ask,
    banner_saying,
    new_chat,
    page_session,
    wait_until,
)
from tests.e2e.replies import FOUNDRY_SAYS, SLOW, SLOW_PROMPT

ITEMS = "[data-testid=chat-item]"
MESSAGE_TEXTS = (
    "() => [...document.querySelectorAll('[data-testid=message]')].map(m => m.innerText)"
)
SAVED_PARTIAL = """() => new Promise((resolve) => {
  const open = indexedDB.open("hearth");
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("chats")) { db.close(); resolve(false); return; }
    const get = db.transaction("chats").objectStore("chats").getAll();
    get.onsuccess = () => {
      db.close();
      const replies = get.result.flatMap((c) => c.messages).filter((m) => m.state === "streaming");
      resolve(replies.some((m) => m.text.length > 0));
    };
  };
})"""
STORED_TEXT = """(id) => new Promise((resolve) => {
  const open = indexedDB.open("hearth");
  open.onsuccess = () => {
    const get = open.result.transaction("chats").objectStore("chats").getAll();
    get.onsuccess = () => {
      open.result.close();
      const message = get.result.flatMap((c) => c.messages).find((m) => m.id === id);
      resolve(message ? message.text : null);
    };
  };
})"""
BLOCK_STORAGE = """() => new Promise((resolve, reject) => {
  // What a newer Hearth (or a broken profile) leaves behind: a database this version
  // cannot open. Hearth's own connection closes when asked to.
  const open = indexedDB.open("hearth", 99);
  open.onsuccess = () => { open.result.close(); resolve(); };
  open.onerror = () => reject(open.error);
})"""


# The open chat shows `count` messages, the first of them `first`.
SHOWN = """([count, first]) => {
  const shown = document.querySelectorAll("[data-testid=message]");
  return shown.length === count && shown[0].innerText.trim() === first;
}"""


def texts(chat: PageSession) -> list[str]:
    return list(chat.page.evaluate(MESSAGE_TEXTS))


def chat_titles(chat: PageSession) -> list[str]:
    return chat.page.locator(f"{ITEMS} [data-testid=chat-title]").all_inner_texts()


FOCUSED = "() => [document.activeElement.dataset.testid, document.activeElement.innerText]"


def test_two_chats_survive_a_reload_and_the_thread_goes_on(chat: PageSession) -> None:
    chat.open("?temperature=0&max_tokens=24")
    chat.wait_state("ready")
    page = chat.page
    ask(chat, "What is the capital of France?")
    ask(chat, "And of Germany?")
    new_chat(page)
    ask(chat, "Name a primary color.")
    ask(chat, "Name another one.")
    second = texts(chat)
    page.locator(ITEMS).filter(has_text="capital of France").click()
    page.wait_for_function(SHOWN, arg=[4, "What is the capital of France?"])
    first = texts(chat)
    assert first[0] == "What is the capital of France?" and "Paris" in first[1]
    assert (
        page.locator(f'{ITEMS}[data-active="true"]').inner_text().startswith("What is the capital")
    )

    page.reload()
    chat.wait_state("ready")
    page.wait_for_function(SHOWN, arg=[4, "What is the capital of France?"])
    assert len(chat_titles(chat)) == 2
    assert texts(chat) == first  # the chat that was open is open again, word for word
    reply = ask(chat, "And of Italy?")  # a third turn, which only makes sense after turn 1
    assert "Rome" in reply.inner_text()  # type: ignore[attr-defined]
    page.locator(ITEMS).filter(has_text="primary color").click()
    page.wait_for_function(SHOWN, arg=[4, "Name a primary color."])
    assert texts(chat) == second


def test_a_reply_streaming_during_a_reload_is_kept_and_marked_interrupted(
    chat: PageSession,
) -> None:
    chat.open("?temperature=0&max_tokens=600")
    chat.wait_state("ready")
    page = chat.page
    page.fill("[data-testid=prompt]", "Write a very long story about a dragon who learns to bake.")
    page.press("[data-testid=prompt]", "Enter")
    # wait until a save (at least once a second while streaming) holds partial text
    wait_until(page, SAVED_PARTIAL)
    page.reload()
    chat.wait_state("ready")
    reply = page.locator(ASSISTANT).first
    assert reply.get_attribute("data-interrupted") == "true"
    assert reply.get_attribute("data-done") == "true"
    assert len(reply.inner_text().strip()) > 0
    assert texts(chat)[0] == "Write a very long story about a dragon who learns to bake."
    assert len(chat_titles(chat)) == 1


def test_export_in_one_browser_and_import_into_another(
    browser: object, server: ServerProcess, chat: PageSession, tmp_path: Path
) -> None:
    chat.open("?temperature=0&max_tokens=16")
    chat.wait_state("ready")
    page = chat.page
    ask(chat, "What is the capital of France?")
    new_chat(page)
    ask(chat, "Name a primary color.")
    with page.expect_download() as download:
        page.click("[data-testid=export]")
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    assert exported.name.startswith("hearth-chats-") and exported.suffix == ".json"
    data = json.loads(exported.read_text())
    assert data["format"] == "hearth-chats" and len(data["chats"]) == 2

    with page.expect_download() as markdown:
        page.click("[data-testid=export-markdown]")
    assert "Name a primary color." in Path(markdown.value.path()).read_text()

    with page_session(browser, server) as other:  # a fresh context: empty storage
        other.open()
        other.wait_state("ready")
        assert chat_titles(other) == []
        truncated = tmp_path / "truncated.json"
        truncated.write_text(exported.read_text()[: len(exported.read_text()) // 2])
        foreign = tmp_path / "foreign.json"
        foreign.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}))
        banner = other.page.locator("[data-testid=error]")
        for bad, words in ((truncated, "not valid JSON"), (foreign, "not a Hearth chat export")):
            other.page.set_input_files("[data-testid=import]", str(bad))
            banner.wait_for(state="visible")
            assert words in banner.inner_text() and "nothing was imported" in banner.inner_text()
            assert chat_titles(other) == []
            other.page.click("#error-close")
            focused = "() => document.activeElement.dataset.testid"
            assert other.page.evaluate(focused) == "prompt"  # type: ignore[attr-defined]
        other.page.set_input_files("[data-testid=import]", str(exported))
        other.page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=chat-item]').length === 2"
        )
        assert sorted(chat_titles(other)) == sorted(c["title"] for c in data["chats"])
        other.page.set_input_files("[data-testid=import]", str(exported))  # the same again
        banner_saying(other.page, "Nothing new to import: 2 chats are already here.")
        assert sorted(chat_titles(other)) == sorted(c["title"] for c in data["chats"])
        for record in data["chats"]:
            other.page.locator(ITEMS).filter(has_text=record["title"]).click()
            expected = [len(record["messages"]), record["messages"][0]["text"].strip()]
            other.page.wait_for_function(SHOWN, arg=expected)
            shown = [m.strip() for m in texts(other)]
            assert shown == [m["text"].strip() for m in record["messages"]]


# the reply being written has shown some text
STREAMING = f"""() => [...document.querySelectorAll('{ASSISTANT}[data-done=false]')]
  .some((m) => m.innerText.trim().length > 20)"""


def test_leaving_a_chat_mid_reply_stops_the_reply_and_opens_the_other(chat: PageSession) -> None:
    chat.open("?temperature=0&max_tokens=600")
    chat.wait_state("ready")
    page = chat.page
    story = "Write a very long story about a dragon who learns to bake."
    ask(chat, "What is the capital of France?")
    new_chat(page)
    page.fill("[data-testid=prompt]", story)
    page.press("[data-testid=prompt]", "Enter")
    page.wait_for_function(STREAMING)
    page.locator(ITEMS).filter(has_text="capital of France").click()  # mid-reply
    page.wait_for_function(SHOWN, arg=[2, "What is the capital of France?"])
    chat.wait_state("ready")
    page.locator(ITEMS).filter(has_text="dragon").click()
    page.wait_for_function(SHOWN, arg=[2, story])
    reply = page.locator(ASSISTANT).first
    assert reply.get_attribute("data-stopped") == "true"  # kept, as Stop keeps it
    assert len(reply.inner_text().strip()) > 20
    # New chat, too, works mid-reply
    page.fill("[data-testid=prompt]", "Tell me more.")
    page.press("[data-testid=prompt]", "Enter")
    page.wait_for_function(STREAMING)
    new_chat(page)
    chat.wait_state("ready")
    assert sorted(chat_titles(chat)) == sorted([story, "What is the capital of France?"])


def test_rename_search_delete_and_undo(chat: PageSession) -> None:
    chat.open("?temperature=0&max_tokens=8")
    chat.wait_state("ready")
    page = chat.page
    ask(chat, "What is the capital of France?")
    new_chat(page)
    ask(chat, "Name a primary color.")
    item = page.locator(ITEMS).filter(has_text="capital of France")
    item.locator("[data-testid=chat-rename]").click()
    # all of the title selected, to type over, and its start in view, though it is too
    # long for the field
    shown = "i => [i.selectionStart, i.selectionEnd, i.scrollLeft, i.scrollWidth > i.clientWidth]"
    assert page.locator(".chat-rename-input").evaluate(shown) == [0, 30, 0, True]
    page.keyboard.press("Control+A")
    page.keyboard.type("Geography")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=chat-title]')]"
        ".some(t => t.innerText === 'Geography')"
    )
    assert page.evaluate(FOCUSED) == ["chat-title", "Geography"]  # the keyboard stays there
    page.fill("[data-testid=chat-search]", "paris")  # found by the reply's text
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=chat-item]').length === 1"
    )
    assert chat_titles(chat) == ["Geography"]
    page.fill("[data-testid=chat-search]", "")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=chat-item]').length === 2"
    )
    page.locator(ITEMS).filter(has_text="Geography").locator("[data-testid=chat-delete]").click()
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=chat-item]').length === 1"
    )
    # focus moves to the chat now in the deleted one's place, not to the page
    assert page.evaluate(FOCUSED) == ["chat-title", "Name a primary color."]
    assert "Deleted" in page.locator("[data-testid=error]").inner_text()
    page.click("[data-testid=error-action]")  # Undo
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=chat-item]').length === 2"
    )
    page.reload()
    chat.wait_state("ready")
    assert sorted(chat_titles(chat)) == ["Geography", "Name a primary color."]


def test_edit_regenerate_and_copy(chat: PageSession) -> None:
    chat.context.grant_permissions(["clipboard-read", "clipboard-write"])  # type: ignore[attr-defined]
    chat.open("?temperature=0&max_tokens=24")
    chat.wait_state("ready")
    page = chat.page
    ask(chat, "What is the capital of France?")
    ask(chat, "And of Germany?")
    first_user = page.locator("[data-testid=message][data-role=user]").first
    first_user.hover()
    first_user.locator("[data-testid=edit]").click()
    # Enter makes a new line in the edit box, so the box says how it is saved
    hint = page.evaluate("() => document.activeElement.getAttribute('aria-describedby')")
    assert page.inner_text(f"#{hint}") == "Ctrl+Enter saves, Esc cancels"
    page.keyboard.press("Escape")  # as Cancel: the message as it was, the keyboard on Edit
    page.wait_for_function("() => document.activeElement?.dataset.testid === 'edit'")
    assert first_user.locator(".edit-box").count() == 0
    assert first_user.locator(".content").inner_text() == "What is the capital of France?"
    first_user.locator("[data-testid=edit]").click()
    page.fill(".edit-box", "What is the capital of Italy?")
    page.click("text=Save and resend")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=message]').length === 2 && "
        "document.querySelector('[data-role=assistant]')?.dataset.done === 'true'"
    )
    shown = texts(chat)
    assert shown[0] == "What is the capital of Italy?"
    title = page.locator(f"{ITEMS} [data-testid=chat-title]")
    expect(title).to_have_text(["What is the capital of Italy?"])  # named after it
    # what the edit replaced comes back with Undo
    banner_saying(page, "the 3 messages that followed it were removed.")
    page.click("[data-testid=error-action]")  # Undo
    page.wait_for_function("() => document.querySelectorAll('[data-testid=message]').length === 4")
    assert texts(chat)[0] == "What is the capital of France?"
    # Greedy: the resent reply is exactly a fresh chat's, so nothing of the dropped turns
    # (or of their KV cache) leaked into it.
    new_chat(page)
    fresh = ask(chat, "What is the capital of Italy?")
    assert fresh.inner_text() == shown[1]  # type: ignore[attr-defined]
    reply = page.locator(ASSISTANT).last
    before = reply.get_attribute("data-id")
    reply.locator("[data-testid=regenerate]").click()
    page.wait_for_function(
        f"() => {{ const r = document.querySelector('[data-role=assistant]');"
        f" return r && r.dataset.id !== '{before}' && r.dataset.done === 'true'; }}"
    )
    assert len(texts(chat)) == 2  # the reply was replaced, not added
    # its button went with the old reply: the keyboard is in the message box, not lost
    assert page.evaluate("() => document.activeElement.dataset.testid") == "prompt"
    reply = page.locator(ASSISTANT).last
    reply.locator("[data-testid=copy]").click()
    page.wait_for_function("() => document.querySelector('[data-copied]') !== null")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.evaluate(STORED_TEXT, reply.get_attribute("data-id"))  # raw Markdown
    # a message sent from the composer ends an edit left open above
    page.locator("[data-testid=message][data-role=user]").first.locator("[data-testid=edit]").click()
    assert page.locator(".edit-box").count() == 1
    ask(chat, "Thanks.")
    assert page.locator(".edit-box").count() == 0


def another_tab(first: PageSession, query: str = "") -> PageSession:
    """A new tab of `first`'s browser profile, opened at `query` and ready."""
    tab = PageSession(page=first.context.new_page(), base_url=first.base_url)  # type: ignore[attr-defined]
    tab.open(query)
    tab.wait_state("ready", timeout_s=120)
    return tab


def test_two_tabs_keep_each_others_messages(chat: PageSession) -> None:
    """Each tab holds its chats in memory; without hearing what the other saved, the one
    that saved last would overwrite the other's messages."""
    chat.open("?temperature=0&max_tokens=8")
    chat.wait_state("ready")
    ask(chat, "What is the capital of France?")
    other = another_tab(chat, "?temperature=0&max_tokens=8")
    ask(chat, "And of Germany?")
    other.page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('[data-testid=message]')]"
        ".some((m) => m.innerText.includes('And of Germany?'))"
    )
    ask(other, "And of Italy?")
    chat.page.reload()
    chat.wait_state("ready")
    questions = [m for i, m in enumerate(texts(chat)) if i % 2 == 0]
    assert questions == [
        "What is the capital of France?",
        "And of Germany?",
        "And of Italy?",
    ]


def two_tabs_on_one_chat(first: PageSession) -> PageSession:
    """`first` on the fake upstream with one answered chat, and a second tab of the same
    browser profile, which opens that chat too."""
    first.open("?backend=foundry")
    first.wait_state("ready", timeout_s=120)
    ask(first, "Hello?")
    return another_tab(first, "?backend=foundry")


def test_a_tab_does_not_reply_in_a_chat_another_tab_is_answering_in(
    browser: object, fake_server: ServerProcess
) -> None:
    """Each tab saves its own copy of the chat, so a second reply written at once would be
    undone by the first tab's next save: the second tab says why and keeps what was typed.
    The fake upstream (tests/e2e/replies.py) streams for about 15 s, so that the second tab
    surely acts while the first is answering."""
    with page_session(browser, fake_server) as first:
        second = two_tabs_on_one_chat(first)
        first.page.fill("[data-testid=prompt]", SLOW_PROMPT)  # type: ignore[attr-defined]
        first.page.press("[data-testid=prompt]", "Enter")  # type: ignore[attr-defined]
        second.page.wait_for_function(  # type: ignore[attr-defined]
            "(part) => document.querySelector('#messages').innerText.includes(part)",
            arg=SLOW[1].strip(),
        )
        streaming = second.page.locator(ASSISTANT).last  # type: ignore[attr-defined]
        assert streaming.get_attribute("data-done") == "false"  # not shown as cut off
        assert streaming.get_attribute("data-interrupted") == "false"
        assert streaming.locator("[data-testid=regenerate]").is_hidden()
        second.page.fill("[data-testid=prompt]", "And now?")  # type: ignore[attr-defined]
        second.page.press("[data-testid=prompt]", "Enter")  # type: ignore[attr-defined]
        banner_saying(second.page, "Another tab is writing a reply in this chat")
        assert second.page.input_value("[data-testid=prompt]") == "And now?"  # type: ignore[attr-defined]
        # a rename refused meanwhile keeps its title behind the banner's Try again
        second.page.locator("[data-testid=chat-rename]").first.click()  # type: ignore[attr-defined]
        second.page.fill(".chat-rename-input", "Renamed elsewhere")  # type: ignore[attr-defined]
        second.page.press(".chat-rename-input", "Enter")  # type: ignore[attr-defined]
        banner_saying(second.page, "try again once it is done")
        retry = second.page.locator("[data-testid=error-action]")  # type: ignore[attr-defined]
        expect(retry).to_have_text("Try again")
        titles = "[data-testid=chat-title]"
        assert first.page.locator(titles).first.inner_text() != "Renamed elsewhere"  # type: ignore[attr-defined]
        assert first.page.locator("[data-testid=stop]").is_enabled()  # type: ignore[attr-defined]
        first.page.click("[data-testid=stop]")  # type: ignore[attr-defined]
        first.wait_state("ready")
        retry.click()
        expect(second.page.locator(titles).first).to_have_text("Renamed elsewhere")  # type: ignore[attr-defined]
        expect(first.page.locator(titles).first).to_have_text("Renamed elsewhere")  # type: ignore[attr-defined]
        second.page.press("[data-testid=prompt]", "Enter")  # type: ignore[attr-defined]
        second.page.wait_for_function(  # type: ignore[attr-defined]
            "(said) => [...document.querySelectorAll('[data-testid=message]')]"
            ".filter((m) => m.innerText.includes(said)).length === 2",
            arg=FOUNDRY_SAYS,
        )
        first.page.reload()  # type: ignore[attr-defined]
        first.wait_state("ready", timeout_s=120)
        questions = [m for i, m in enumerate(texts(first)) if i % 2 == 0]
        assert questions == ["Hello?", SLOW_PROMPT, "And now?"]
        assert FOUNDRY_SAYS in texts(first)[-1]


# Hold a chat's Web Lock as another tab's rename or delete does while it saves (no reply
# lock beside it), until `window.releaseHold()`.
HOLD_AS_A_RENAME = """(id) => new Promise((held) => {
  navigator.locks.request(`hearth-chat:${id}`, () => {
    held();
    return new Promise((done) => { window.releaseHold = done; });
  });
})"""


def test_a_rename_waits_for_another_tabs_save_of_the_same_chat(
    browser: object, fake_server: ServerProcess
) -> None:
    """Two tabs renaming one chat at the same instant: the second waits for the first's
    save rather than saying a reply is being written there. The first tab's save is held
    open here until the second tab's request is seen waiting for it."""
    with page_session(browser, fake_server) as first:
        second = two_tabs_on_one_chat(first)
        chat_id = first.page.locator(ITEMS).first.get_attribute("data-id")  # type: ignore[attr-defined]
        first.page.evaluate(HOLD_AS_A_RENAME, chat_id)  # type: ignore[attr-defined]
        second.page.locator("[data-testid=chat-rename]").first.click()  # type: ignore[attr-defined]
        second.page.fill(".chat-rename-input", "Renamed at once")  # type: ignore[attr-defined]
        second.page.press(".chat-rename-input", "Enter")  # type: ignore[attr-defined]
        wait_until(
            first.page,
            "async () => (await navigator.locks.query()).pending"
            f".some((lock) => lock.name === 'hearth-chat:{chat_id}')",
            timeout_s=10,
        )
        first.page.evaluate("window.releaseHold()")  # type: ignore[attr-defined]
        titles = "[data-testid=chat-title]"
        expect(second.page.locator(titles).first).to_have_text("Renamed at once")  # type: ignore[attr-defined]
        expect(first.page.locator(titles).first).to_have_text("Renamed at once")  # type: ignore[attr-defined]
        # (the banner shows the link's backend notice, and nothing about another tab)
        expect(second.page.locator("[data-testid=error]")).not_to_contain_text("Another tab")  # type: ignore[attr-defined]


def test_an_unsent_message_survives_a_reload_until_it_is_sent(chat: PageSession) -> None:
    chat.open("?temperature=0&max_tokens=8")
    chat.wait_state("ready")
    page = chat.page
    page.fill("[data-testid=prompt]", "My unsent\ndraft")
    page.reload()
    chat.wait_state("ready")
    assert page.input_value("[data-testid=prompt]") == "My unsent\ndraft"
    ask(chat, "What is the capital of France?")  # sent: the box is empty, also after a reload
    page.reload()
    chat.wait_state("ready")
    assert page.input_value("[data-testid=prompt]") == ""


def test_without_storage_the_chat_still_works_and_says_so(chat: PageSession) -> None:
    chat.open("?temperature=0&max_tokens=24")  # greedy: the answer is known
    chat.wait_state("ready")
    chat.page.evaluate(BLOCK_STORAGE)
    chat.page.reload()
    chat.wait_state("ready")
    banner = chat.page.locator("[data-testid=error]")
    assert "History is not being saved" in banner.inner_text()
    reply = ask(chat, "What is the capital of France?")
    assert "Paris" in reply.inner_text()  # type: ignore[attr-defined]


def test_a_reload_reopens_its_own_tabs_chat_and_draft_and_a_new_tab_the_last_ones(
    browser: object, fake_server: ServerProcess
) -> None:
    """Which chat and draft each page opens with; the fake upstream only answers quickly."""
    box = "[data-testid=prompt]"
    with page_session(browser, fake_server) as first:
        first.open("?backend=foundry")
        first.wait_state("ready", timeout_s=120)
        ask(first, "Asked in the first tab?")
        first.page.fill(box, "Typed in the first tab")  # type: ignore[attr-defined]
        second = another_tab(first, "?backend=foundry")
        assert texts(second)[0] == "Asked in the first tab?"  # a new tab: the last opened
        assert second.page.input_value(box) == "Typed in the first tab"  # type: ignore[attr-defined]
        new_chat(second.page)
        second.page.fill(box, "Typed in the second tab")  # type: ignore[attr-defined]
        ask(second, "Asked in the second tab?")  # sent: that box is empty again
        first.page.reload()  # type: ignore[attr-defined]
        first.wait_state("ready", timeout_s=120)
        assert texts(first)[0] == "Asked in the first tab?"  # its own, not the newer one
        # its draft neither replaced by the other tab's typing nor cleared by its send
        assert first.page.input_value(box) == "Typed in the first tab"  # type: ignore[attr-defined]
        third = another_tab(first, "?backend=foundry")
        assert texts(third)[0] == "Asked in the second tab?"
