"""Python's memory snapshot, made by build.py (hearth_build/snapshot.py) and restored by the
page (site/python.js): every visit boots Python from it, the first and an offline one
included; a damaged snapshot, or one made from another pyapp.zip, is reported and Python
boots from scratch, and the page works either way."""

from __future__ import annotations

import json
from pathlib import Path

from hearth_build.chromium import MODEL_SAVED_JS
from tests.conftest import (
    PageSession,
    ServerProcess,
    ask,
    page_session,
    stop_server,
    wait_until,
)
from tests.e2e.conftest import flip_byte
from tests.e2e.test_offline import rebuild_pyapp

QUERY = "?temperature=0&max_tokens=16"
NOT_USED = "Python's snapshot could not be used"


def booted_from_snapshot(chat: PageSession) -> bool:
    phases = chat.page.get_attribute("[data-testid=status]", "data-phases")  # type: ignore[attr-defined]
    return bool(json.loads(phases)["python_from_snapshot"])


def warnings(chat: PageSession) -> list[str]:
    """The page's console warnings (site/python.js reports a snapshot it did not use)."""
    seen: list[str] = []
    chat.page.on(  # type: ignore[attr-defined]
        "console", lambda m: seen.append(m.text) if m.type == "warning" else None
    )
    return seen


def answers(chat: PageSession) -> bool:
    # what the snapshot carries works: the template (jinja2), the tokenizer, Markdown
    return "Paris" in ask(chat, "What is the capital of France?").inner_text()  # type: ignore[attr-defined]


def test_every_visit_boots_python_from_the_snapshot_online_and_off(
    browser: object, own_server: ServerProcess
) -> None:
    with page_session(browser, own_server) as chat:
        seen = warnings(chat)
        chat.open(QUERY)
        chat.wait_state("ready")
        assert booted_from_snapshot(chat), seen  # a first visit too
        assert answers(chat)
        wait_until(chat.page, MODEL_SAVED_JS, timeout_s=60)
        stop_server(own_server)
        chat.page.reload()  # type: ignore[attr-defined]
        chat.wait_state("ready")
        assert booted_from_snapshot(chat), seen
        assert answers(chat)
        assert not [w for w in seen if NOT_USED in w]


def test_a_damaged_snapshot_is_reported_and_python_boots_from_scratch(
    browser: object, own_dist: Path, own_server: ServerProcess
) -> None:
    # Damaged in the served copy, not on its way through Playwright's router, which took
    # 36 s to pass the 45 MB twice (the page's request and the service worker's) on a slow
    # hour and timed the test out.
    snapshot = own_dist / "python.snapshot"
    flip_byte(snapshot, snapshot.stat().st_size // 2)
    with page_session(browser, own_server) as chat:
        seen = warnings(chat)
        chat.open(QUERY)
        chat.wait_state("ready")
        assert not booted_from_snapshot(chat)
        assert [w for w in seen if NOT_USED in w and "sha256" in w], seen
        assert answers(chat)


def test_a_snapshot_of_another_pyapp_is_not_used(
    browser: object, own_dist: Path, own_server: ServerProcess
) -> None:
    """A build stopped between pyapp.zip and the snapshot must not run the old app."""
    rebuild_pyapp(own_dist, "9.8.7", snapshot=False)
    with page_session(browser, own_server) as chat:
        seen = warnings(chat)
        chat.open(QUERY)
        chat.wait_state("ready")
        assert not booted_from_snapshot(chat)
        assert [w for w in seen if NOT_USED in w and "pyapp.zip" in w], seen
        assert chat.page.locator("[data-testid=version]").inner_text() == "v9.8.7"  # type: ignore[attr-defined]
        assert answers(chat)
