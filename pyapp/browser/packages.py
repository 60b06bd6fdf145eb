"""Loading vendored wheels into Pyodide.

build.py places the pinned wheels beside `pyodide.mjs` and rewrites `pyodide-lock.json`
to list exactly those files with their real sha256 values, so `loadPackage` by name
resolves dependencies and checks integrity without touching a CDN.
"""

from __future__ import annotations

import pyodide_js
from js import Object
from pyodide.ffi import create_proxy, to_js

from pyapp.browser import host
from pyapp.errors import HearthError


async def load_packages(*names: str) -> None:
    """Load packages (and their dependencies) by name; fail loudly, since `loadPackage`
    only reports problems through its callbacks. Those that a snapshot brought are there."""
    names = tuple(name for name in names if name not in host.installed())
    if not names:
        return
    errors: list[str] = []
    on_error = create_proxy(errors.append)
    on_message = create_proxy(lambda message: None)
    try:
        options = to_js(
            {"errorCallback": on_error, "messageCallback": on_message},
            dict_converter=Object.fromEntries,
        )
        await pyodide_js.loadPackage(to_js(list(names)), options)
    finally:
        on_error.destroy()
        on_message.destroy()
    if errors:
        raise HearthError(
            f"could not load {', '.join(names)} into Python: {errors[0]}. "
            "Rebuild with `python build.py` and reload the page."
        )
