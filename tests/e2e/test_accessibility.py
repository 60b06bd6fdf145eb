"""Accessibility: axe-core (npm, test-only, never shipped) finds no violation of any impact
(minor ones included: a role an element may not have, content outside a landmark), light
or dark, on the ready page and with a rendered reply; and every control
can be reached with Tab and shows where the focus is.

The reply comes from the fake upstream (tests/e2e/replies.py), so it has code, a table and
links every time: the point is the rendered Markdown, not the model's words.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, PageSession, ServerProcess, ask, page_session
from tests.e2e.replies import RICH_PROMPT, WIDE_PROMPT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
  });
  return result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target).join(", ")}`);
}"""
# What a keyboard user can operate: visible, enabled controls.
NAME = """const name = (el) =>
  el.id || el.dataset.testid || el.getAttribute("aria-label") || el.textContent.trim();"""
CONTROLS = (
    NAME
    + """return [...document.querySelectorAll(
    "a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex='-1'])")]
  .filter((el) => !el.disabled && el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== "hidden")
  .map(name)"""
)
# The focused element's name, and whether it draws a focus indicator.
FOCUSED = (
    NAME
    + """
  const el = document.activeElement;
  if (el === document.body) return null;  // between the page's last control and its first
  // a visually hidden file input shows its ring on the label that stands for it
  const shown = el.id === "import" ? document.querySelector("label[for=import]") : el;
  const style = getComputedStyle(shown);
  const ring = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
    || style.boxShadow !== "none";
  return { name: name(el), ring };"""
)


@pytest.fixture
def rich_chat(browser: object, fake_server: ServerProcess) -> Iterator[PageSession]:
    with page_session(browser, fake_server) as session:
        session.open("?backend=foundry")
        session.wait_state("ready", timeout_s=90)
        yield session


def axe_violations(chat: PageSession) -> list[str]:
    page = chat.page
    page.evaluate(AXE.read_text())  # type: ignore[attr-defined]  # evaluate is not bound by the CSP
    return list(page.evaluate(RUN_AXE))  # type: ignore[attr-defined]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_axe_violations(rich_chat: PageSession, scheme: str) -> None:
    rich_chat.page.emulate_media(color_scheme=scheme)  # type: ignore[attr-defined]
    assert axe_violations(rich_chat) == []  # the ready page, empty
    ask(rich_chat, RICH_PROMPT)
    assert axe_violations(rich_chat) == []  # code, a table, links, message actions
    ask(rich_chat, WIDE_PROMPT)
    assert axe_violations(rich_chat) == []  # a table and code wider than the bubble


def test_every_control_is_reached_by_tab_and_shows_focus(rich_chat: PageSession) -> None:
    page = rich_chat.page
    ask(rich_chat, RICH_PROMPT)
    page.click(".settings summary")  # open, so its fields count too
    controls = set(page.evaluate(f"() => {{ {CONTROLS} }}"))  # type: ignore[attr-defined]
    assert {"prompt", "new-chat", "backend", "docs"} <= controls  # the list is not empty
    reached: dict[str, bool] = {}
    page.locator("body").focus()  # type: ignore[attr-defined]
    for _ in range(4 * len(controls)):
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
        focused = page.evaluate(f"() => {{ {FOCUSED} }}")  # type: ignore[attr-defined]
        if focused is not None:
            reached.setdefault(focused["name"], focused["ring"])
    assert controls - set(reached) == set()
    assert [name for name, ring in reached.items() if not ring] == []


def test_the_first_tab_offers_to_skip_to_the_message_box(rich_chat: PageSession) -> None:
    """Without it a keyboard user tabs through every saved chat before reaching the box."""
    page = rich_chat.page
    page.locator("body").focus()  # type: ignore[attr-defined]
    page.keyboard.press("Tab")  # type: ignore[attr-defined]
    skip = page.locator("[data-testid=skip]")  # type: ignore[attr-defined]
    assert page.evaluate("() => document.activeElement.dataset.testid") == "skip"  # type: ignore[attr-defined]
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0 and box["width"] > 1  # in sight once focused
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert page.evaluate("() => document.activeElement.id") == "prompt"  # type: ignore[attr-defined]
    assert page.evaluate("() => location.hash") == ""  # type: ignore[attr-defined]
