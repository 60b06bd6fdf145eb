"""Replies render as Markdown, and a hostile reply can neither run code nor fetch anything.

The text comes from a fake OpenAI-compatible upstream behind the real serve.py (tests/
support/fake_openai.py): the point is to know every byte of the reply in advance, and to
stream it split at random places, so that each half-finished construct (an open tag, half
a link) is rendered on the way too. The model and Foundry Local are tested elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import (
    ASSISTANT,
    PageSession,
    ServerProcess,
    ask,
    page_session,
)
from tests.e2e.replies import GROWING_PROMPT, RICH_PROMPT, WIDE_PROMPT
from tests.e2e.xss_corpus import VECTORS
from tests.support.fake_openai import FakeOpenAI

# Counts what hostile content could do if it got through: call a dialog, or trip the CSP.
TRAP = """
window.__xss = 0;
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = () => { window.__xss += 1; };
}
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""

# Everything inside rendered message content that is not on the renderer's allowlist:
# elements, attributes (tabindex=0 only on tables and code blocks, which the renderer adds),
# and link targets other than http(s) and mailto. Our own code-copy
# button (with its icon) is the one thing the renderer adds inside a <pre>.
AUDIT = """() => {
  const tags = new Set(["div", "p", "br", "strong", "em", "s", "del", "code", "pre", "span",
    "a", "ul", "ol", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table",
    "thead", "tbody", "tr", "th", "td"]);
  const attributes = new Set(["href", "title", "class", "start", "target", "rel"]);
  const found = [];
  document.querySelectorAll("[data-testid=message] .content").forEach((content, index) => {
    for (const el of content.querySelectorAll("*")) {
      if (el.closest("button.code-copy")) continue;
      const tag = el.tagName.toLowerCase();
      if (!tags.has(tag)) found.push(`${index}: <${tag}>`);
      for (const attr of el.attributes) {
        // the renderer makes tables and code (which may scroll sideways) reachable by Tab
        const reachable = attr.name === "tabindex" && attr.value === "0"
          && (tag === "table" || (tag === "code" && el.parentElement.tagName === "PRE"));
        if (!attributes.has(attr.name) && !reachable) found.push(`${index}: <${tag} ${attr.name}>`);
      }
      const href = el.getAttribute("href");
      if (href !== null && !/^(https?:|mailto:)/i.test(href)) found.push(`${index}: href=${href}`);
      if (tag === "a" && el.rel !== "noopener noreferrer") found.push(`${index}: rel=${el.rel}`);
    }
  });
  return found;
}"""

REPLY_HTML = """() => [...document.querySelectorAll(
  "[data-testid=message][data-role=assistant] .content")].map((content) => content.innerHTML)"""


@pytest.fixture
def trapped(browser: object, fake_server: ServerProcess) -> Iterator[PageSession]:
    with page_session(browser, fake_server) as session:
        session.context.add_init_script(TRAP)  # type: ignore[attr-defined]
        session.open("?backend=foundry")
        session.wait_state("ready", timeout_s=90)
        yield session


def test_markdown_renders_code_tables_and_emphasis(trapped: PageSession) -> None:
    reply = ask(trapped, RICH_PROMPT)
    content = reply.locator(".content")  # type: ignore[attr-defined]
    assert content.locator("pre code span[class]").count() > 3  # Pygments token spans
    assert "def greet" in content.locator("pre code").inner_text()
    assert content.locator("pre .code-copy").count() == 1
    assert content.locator("table th").all_inner_texts() == ["Language", "Typing"]
    assert content.locator("table td").count() == 4
    assert content.locator("strong").inner_text() == "bold"
    assert content.locator("em").inner_text() == "em"
    assert content.locator("del, s").inner_text() == "gone"
    text = content.inner_text()
    assert "Raw <b>tag</b> and <script>alert(1)</script> stay text" in text
    assert content.locator("b, script").count() == 0
    links = content.locator("a")
    assert links.all_inner_texts() == ["docs", "https://peps.python.org/pep-0008/"]  # bare too
    hrefs = ["https://docs.python.org/3/", "https://peps.python.org/pep-0008/"]
    for each, href in zip(links.all(), hrefs, strict=True):
        assert each.get_attribute("href") == href
        assert each.get_attribute("target") == "_blank"
        assert each.get_attribute("rel") == "noopener noreferrer"
    assert "[bad](javascript:alert(1))" in text.replace("\n", " ")
    assert trapped.page.evaluate(AUDIT) == []  # type: ignore[attr-defined]
    assert trapped.page.evaluate("window.__xss") == 0  # type: ignore[attr-defined]


# What a reader would see go wrong on a narrow screen: a word split over two lines in a
# table cell (a split word has two boxes), a copy button outside its code block, moving
# when the code scrolls or once clicked, or over the code, and a page that scrolls sideways.
LAYOUT = """(content) => {
  const split = [];
  for (const cell of content.querySelectorAll("th, td")) {
    const text = cell.firstChild;
    for (const word of text.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(text, word.index);
      range.setEnd(text, word.index + word[0].length);
      if (range.getClientRects().length !== 1) split.push(word[0]);
    }
  }
  const table = content.querySelector("table");
  const buttons = [...content.querySelectorAll("pre")].map((pre) => {
    const box = pre.getBoundingClientRect(), copy = pre.querySelector(".code-copy");
    const code = pre.querySelector("code");
    const before = copy.getBoundingClientRect();
    code.scrollLeft = 120;
    const after = copy.getBoundingClientRect();
    copy.dataset.copied = "true"; // as a click shows it: its "Copied" does not widen it
    const copied = copy.getBoundingClientRect();
    delete copy.dataset.copied;
    // and the code, scrolled, never runs under the button
    return before.top >= box.top && before.bottom <= box.bottom && before.right <= box.right
      && after.left === before.left && code.getBoundingClientRect().right <= after.left
      && copied.left === before.left && copied.width === before.width;
  });
  return { split, tableScrolls: table.scrollWidth > table.clientWidth, buttons,
           pageScrolls: document.documentElement.scrollWidth > innerWidth };
}"""


AT_END = """() => { const list = document.getElementById("messages");
  return list.scrollHeight > list.clientHeight
    && list.scrollHeight - list.scrollTop - list.clientHeight < 2; }"""


def test_a_wide_table_and_code_fit_a_phone_without_breaking_words(trapped: PageSession) -> None:
    page = trapped.page
    page.set_viewport_size({"width": 390, "height": 600})  # type: ignore[attr-defined]
    content = ask(trapped, WIDE_PROMPT).locator(".content")  # type: ignore[attr-defined]
    assert content.locator("th").count() == 8 and content.locator("pre").count() == 2
    assert content.evaluate(LAYOUT) == {
        "split": [],
        "tableScrolls": True,
        "buttons": [True, True],
        "pageScrolls": False,
    }
    # the list, at its end, stays there when the settings open above it and make it shorter
    page.wait_for_function(AT_END)  # type: ignore[attr-defined]
    page.click(".settings summary")  # type: ignore[attr-defined]
    page.wait_for_function(AT_END)  # type: ignore[attr-defined]


def test_hostile_replies_neither_run_nor_fetch_nor_survive_a_reload(
    trapped: PageSession, upstream: FakeOpenAI
) -> None:
    page = trapped.page
    for index in range(len(VECTORS)):
        ask(trapped, f"vector {index}", timeout_s=60)
    # every vector reached the page, whole
    assert page.locator(ASSISTANT).count() == len(VECTORS)  # type: ignore[attr-defined]
    assert [chat["messages"][-1]["content"] for chat in upstream.chats()][-len(VECTORS) :] == [
        f"vector {index}" for index in range(len(VECTORS))
    ]
    assert page.evaluate(AUDIT) == []  # type: ignore[attr-defined]
    assert page.evaluate("window.__xss") == 0  # type: ignore[attr-defined]
    assert page.evaluate("window.__csp") == []  # type: ignore[attr-defined]
    streamed = page.evaluate(REPLY_HTML)  # type: ignore[attr-defined]

    # The saved chat is rendered again from storage, all at once this time.
    page.reload()  # type: ignore[attr-defined]
    trapped.wait_state("ready", timeout_s=90)
    page.locator(ASSISTANT).nth(len(VECTORS) - 1).wait_for()  # type: ignore[attr-defined]
    assert page.locator(ASSISTANT).count() == len(VECTORS)  # type: ignore[attr-defined]
    assert page.evaluate(AUDIT) == []  # type: ignore[attr-defined]
    assert page.evaluate("window.__xss") == 0  # type: ignore[attr-defined]
    assert page.evaluate("window.__csp") == []  # type: ignore[attr-defined]
    # A streamed reply is drawn by merging each redraw into what is shown (site/ui.js
    # `morph`); it must end up exactly as the same reply drawn at once.
    redrawn = page.evaluate(REPLY_HTML)  # type: ignore[attr-defined]
    assert [i for i, (a, b) in enumerate(zip(streamed, redrawn, strict=True)) if a != b] == []


def test_a_reply_drawn_as_it_streams_ends_as_if_drawn_at_once(trapped: PageSession) -> None:
    """Each redraw of a streaming reply is merged into what is shown (site/ui.js `morph`),
    through states that render differently from the end (tests/e2e/replies.py GROWING)."""
    page = trapped.page
    reply = ask(trapped, GROWING_PROMPT)
    content = reply.locator(".content")  # type: ignore[attr-defined]
    assert content.locator("p").nth(1).inner_text() == "x _a_b c d _e_f."
    assert content.locator("h2").inner_text() == "Title"
    assert content.locator("pre code span[class]").count() >= 3
    assert content.locator("ul li").all_inner_texts() == ["one", "two"]
    assert content.locator("a").get_attribute("href") == "https://docs.python.org/3/"
    streamed = page.evaluate(REPLY_HTML)  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    trapped.wait_state("ready", timeout_s=90)
    page.locator(ASSISTANT).first.wait_for()  # type: ignore[attr-defined]
    assert page.evaluate(REPLY_HTML) == streamed  # type: ignore[attr-defined]
