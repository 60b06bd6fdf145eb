"""Boot: wire the browser adapters to the core and report progress on the status line."""

from __future__ import annotations

import sys

from pyodide.http import pyfetch

import pyapp
from pyapp.browser.dom import Page
from pyapp.settings import Settings
from pyapp.status import State


async def start() -> None:
    page = Page()
    try:
        page.set_status(State.LOADING, "Python is up; reading the app configuration…")
        response = await pyfetch(Page.url("app-config.json"))
        if not response.ok:
            raise RuntimeError(f"app-config.json answered HTTP {response.status}")
        config = await response.json()
        settings, problems = Settings().with_query(Page.query())
        for problem in problems:
            page.show_error(problem)
        python = ".".join(map(str, sys.version_info[:3]))
        page.set_version(f"v{pyapp.__version__}")
        page.set_status(
            State.READY,
            f"Ready · Hearth {config['version']} · Python {python} in Pyodide · "
            f"backend: {settings.backend.value}",
        )
    except Exception as error:  # noqa: BLE001 - boot must always end in a visible state
        page.set_status(State.ERROR, "Hearth failed to start")
        page.show_error(f"{error}. Reload the page; if it persists, run `python build.py` again.")
        raise
