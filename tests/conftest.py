"""Shared fixtures: a built `dist/`, a real `serve.py` process and a real Chromium.

Every browser test records all requests (workers included) and fails on teardown if any
left loopback: Hearth's promise is that nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hearth_build.chromium import (
    CHROMIUM_ARGS,
    MISSING_BROWSER,
    WEBGPU_ARGS,
    find_chromium,
    is_local,
)

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a private loop: the session's sync Playwright owns this thread's."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.fail(MISSING_BROWSER)
    return path


@pytest.fixture(scope="session")
def dist() -> Path:
    """`dist/` built once per session by the real build.py."""
    proc = subprocess.run(
        [sys.executable, "build.py"], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ROOT / "dist"


@dataclass
class ServerProcess:
    url: str
    proc: subprocess.Popen[str]


def start_server(
    *args: str, log: Path | None = None, env: dict[str, str] | None = None
) -> ServerProcess:
    """Start serve.py on a free port and wait for the line that announces its URL; with
    `log`, its request lines (one per request: target, status, body size) go there; `env`
    adds to its environment."""
    quiet = ["--quiet"] if log is None else []
    with log.open("w") if log is not None else nullcontext(subprocess.PIPE) as errors:
        proc = subprocess.Popen(
            [sys.executable, "serve.py", "--port", "0", "--no-build", *args, *quiet],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"at (http://\S+/) ", line)
        if match:
            return ServerProcess(match.group(1), proc)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve.py did not start: {proc.stderr.read() if proc.stderr else ''}")


def stop_server(server: ServerProcess) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="session")
def server(dist: Path) -> Iterator[ServerProcess]:
    running = start_server()
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def playwright() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright: object) -> Iterator[object]:
    """Chromium without a WebGPU adapter: the page runs the model on WASM."""
    instance = playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def webgpu_browser(playwright: object) -> Iterator[object]:
    """Chromium with SwiftShader's WebGPU adapter: the page takes its WebGPU path."""
    instance = playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS + WEBGPU_ARGS
    )
    yield instance
    instance.close()


@dataclass
class PageSession:
    """A fresh browser context with everything it requested and every console error."""

    page: object
    base_url: str
    context: object = None
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def open(self, query: str = "") -> None:
        self.page.goto(self.base_url + query)  # type: ignore[attr-defined]

    def wait_state(self, state: str, timeout_s: float = 60) -> None:
        """Wait until the status line reaches `state`, failing fast on `error`."""
        self.page.wait_for_selector(  # type: ignore[attr-defined]
            f'[data-testid=status][data-state="{state}"], [data-testid=status][data-state="error"]',
            timeout=timeout_s * 1000,
        )
        status = self.page.locator("[data-testid=status]")  # type: ignore[attr-defined]
        actual = status.get_attribute("data-state")
        if actual != state:
            banner = self.page.locator("[data-testid=error]").inner_text()  # type: ignore[attr-defined]
            raise AssertionError(f"status is {actual!r}: {status.inner_text()} / {banner}")


@pytest.fixture
def chat(browser: object, server: ServerProcess) -> Iterator[PageSession]:
    with page_session(browser, server) as session:
        yield session


@pytest.fixture
def webgpu_chat(webgpu_browser: object, server: ServerProcess) -> Iterator[PageSession]:
    with page_session(webgpu_browser, server) as session:
        yield session


@contextmanager
def page_session(
    browser: object, server: ServerProcess, **options: object
) -> Iterator[PageSession]:
    """A fresh context (Playwright's `new_context` options); on teardown, fail if any
    request (workers included) left loopback."""
    with context_session(browser.new_context(**options), server) as session:  # type: ignore[attr-defined]
        yield session


@contextmanager
def context_session(context: Any, server: ServerProcess) -> Iterator[PageSession]:
    """A page of `context` (a new one, or a persistent profile's), recorded and checked as
    page_session says; the context is closed on teardown."""
    page = context.new_page()
    session = PageSession(page=page, base_url=server.url, context=context)
    context.on("request", lambda request: session.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            session.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: session.console_errors.append(str(error)))
    yield session
    context.close()
    leaked = [url for url in session.requests if not is_local(url)]
    assert not leaked, f"requests left loopback: {leaked}"
    assert session.requests, "the page made no requests at all; the recorder is broken"
    violations = [e for e in session.console_errors if "Content Security Policy" in e]
    assert not violations, f"CSP violations: {violations}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder, so `-m unit` and `-m e2e` select them."""
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder in ("unit", "build", "model", "e2e", "foundry", "security"):
            item.add_marker(getattr(pytest.mark, folder))


ASSISTANT = "[data-testid=message][data-role=assistant]"
SYSTEM = "You are a helpful assistant."

WATCH = """() => {
  window.__snapshots = [];
  new MutationObserver(() => {
    const all = document.querySelectorAll('[data-testid=message][data-role=assistant]');
    const last = all[all.length - 1];
    if (last && last.dataset.done !== 'true') window.__snapshots.push(last.textContent);
  }).observe(document.getElementById('messages'),
             { subtree: true, childList: true, characterData: true });
}"""


FREEZE = """(index) => {
  const reply = document.querySelectorAll('[data-testid=message][data-role=assistant]')[index];
  window.__changes = 0;
  const count = (records) => { window.__changes += records.length; };
  // its text and its figures; its action buttons may change as newer replies arrive
  new MutationObserver(count).observe(reply.querySelector('.content'),
    { subtree: true, childList: true, characterData: true, attributes: true });
  new MutationObserver(count).observe(reply, { attributes: true,
    attributeFilter: ['data-done', 'data-stopped', 'data-generated', 'data-decode-tok-s'] });
}"""


def assert_untouched_after(chat: PageSession, index: int, action: Callable[[], object]) -> None:
    """The `index`-th reply does not change while `action` (say, a whole second reply) runs:
    a check that waits for something real to happen instead of sleeping."""
    chat.page.evaluate(FREEZE, index)  # type: ignore[attr-defined]
    action()
    assert chat.page.evaluate("window.__changes") == 0  # type: ignore[attr-defined]


def wait_until(page: object, check: str, timeout_s: float = 120, every_ms: int = 100) -> None:
    """Poll an async page function (say, an IndexedDB read) until it resolves truthy;
    Playwright's wait_for_function takes an async function's first answer as final."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(check):  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {check[:80]}")
        page.wait_for_timeout(every_ms)  # type: ignore[attr-defined]


def new_chat(page: object) -> None:
    """New chat, and wait until the view is empty (Python in the worker handles the click)."""
    page.click("[data-testid=new-chat]")  # type: ignore[attr-defined]
    page.wait_for_function("() => !document.querySelector('[data-testid=message]')")  # type: ignore[attr-defined]


BANNER_SAYS = """(text) => {
  const banner = document.querySelector('[data-testid=error]');
  return !banner.hidden && banner.textContent.includes(text);
}"""


def banner_saying(page: Any, text: str, timeout_s: float = 30) -> Any:
    """The banner, once it says `text`: the one shown earlier (say, what a link preset) may
    still be up when an action that replaces it has just been sent."""
    page.wait_for_function(BANNER_SAYS, arg=text, timeout=timeout_s * 1000)
    return page.locator("[data-testid=error]")


def ask(chat: PageSession, text: str, timeout_s: float = 120) -> object:
    """Send `text` and wait for the reply to complete; returns the reply's locator."""
    page = chat.page
    before = page.locator(ASSISTANT).count()
    page.fill("[data-testid=prompt]", text)
    page.press("[data-testid=prompt]", "Enter")
    reply = page.locator(ASSISTANT).nth(before)
    page.locator(f'{ASSISTANT}[data-done="true"]').nth(before).wait_for(timeout=timeout_s * 1000)
    return reply
