"""The worker's one door to JavaScript: `hearth_host`, the module site/worker.js registers.

Posting view commands to the page, receiving its events, importing a JS module by URL and
the boot facts (app config, the page's URL query) all go through here, so no JavaScript
is ever evaluated from a string (the page's CSP forbids it) and the conversions between
Python and JS values happen in one place.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urljoin

import hearth_host
import js
from pyodide.ffi import JsProxy, create_proxy, to_js


def to_js_object(value: Any) -> Any:
    """Python dicts and lists as plain JS objects and arrays."""
    return to_js(value, dict_converter=js.Object.fromEntries)


def to_py(value: Any) -> Any:
    return value.to_py() if isinstance(value, JsProxy) else value


def post(message: dict[str, Any]) -> None:
    hearth_host.post(to_js_object(message))


def listen(handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """Run `handler` (as a task) for every event the page sends; a failure is reported on
    the page and in the console rather than lost."""

    async def run(event: dict[str, Any]) -> None:
        try:
            await handler(event)
        except Exception as error:  # noqa: BLE001 - a bug must show, not freeze the page
            js.console.error(traceback.format_exc())
            post({"op": "banner", "text": f"Something went wrong: {error}. Reload the page."})

    def on_event(event: Any) -> None:
        data = to_py(event)
        if isinstance(data, dict):
            asyncio.ensure_future(run(data))

    hearth_host.listen(create_proxy(on_event))  # lives as long as the page


def config() -> dict[str, Any]:
    """app-config.json as the worker fetched it at boot."""
    return dict(to_py(hearth_host.config))


def query() -> str:
    """The page's URL query (`?temperature=0…`)."""
    return str(hearth_host.query or "")


def tab_chat() -> str | None:
    """The chat this tab had open before its reload (site/boot.js), if it had one."""
    value = hearth_host.tabChat
    return str(value) if value else None


def url(relative: str) -> str:
    """An absolute URL for a file of the site (the worker lives beside index.html)."""
    return urljoin(str(js.location.href), relative)


def model() -> Any:
    """The model worker's calls (site/worker.js `modelWorker`): the model's files, the ONNX
    Runtime session and its KV cache, on a thread of their own (site/model.js)."""
    return hearth_host.model


def store() -> Any:
    """site/store.js: IndexedDB with promises."""
    return hearth_host.store


def installed() -> frozenset[str]:
    """The packages already in Python when it came from a snapshot (site/python.js)."""
    return frozenset(str(name) for name in to_py(hearth_host.installed))


def boot_seconds() -> float:
    return float(hearth_host.bootMs()) / 1000


def boot_marks() -> dict[str, float]:
    """When Pyodide itself was loaded (site/worker.js), in seconds from the worker's start."""
    return {str(k): float(v) for k, v in to_py(hearth_host.bootMarks()).items()}


async def early_phases() -> dict[str, float]:
    """When the model worker's early steps (site/model.js) ended, in seconds from its start:
    they run while Pyodide boots, so they are times of day, not durations."""
    return {str(k): float(v) for k, v in to_py(await hearth_host.model.phases()).items()}
