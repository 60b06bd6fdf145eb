"""Wiring: the browser's versions of the app's parts (the page, the backends, storage) plugged
into `pyapp.app.App`. Runs once, in the worker, when site/worker.js has booted Python."""

from __future__ import annotations

import asyncio
import random
import sys

from pyodide.http import pyfetch

import pyapp
from pyapp.app import App, Provider
from pyapp.attachments import Attachment, extract
from pyapp.browser import host
from pyapp.browser.foundry import FoundryProvider
from pyapp.browser.local import LocalProvider
from pyapp.browser.packages import load_packages
from pyapp.browser.storage import ChatRecords, SettingsStore
from pyapp.config import AppConfig
from pyapp.errors import HearthError
from pyapp.library import Library, Tab
from pyapp.settings import Backend, Preferences
from pyapp.status import State
from pyapp.view import View


async def manifest() -> dict[str, object]:
    response = await pyfetch(host.url("manifest.json"))
    if not response.ok:
        raise HearthError(f"manifest.json answered HTTP {response.status}")
    data = await response.json()
    return dict(data)


async def extract_in_page(name: str, data: bytes) -> Attachment:
    """pypdf loads the first time a PDF is attached, not at boot."""
    if name.lower().endswith(".pdf"):
        await load_packages("pypdf")
    return extract(name, data)


async def start() -> None:
    random.seed()  # the global generator's state may come from a snapshot every visit shares
    view = View(host.post)
    python_s = host.boot_seconds()  # the worker's start to here: mostly Pyodide's boot
    try:
        python = ".".join(map(str, sys.version_info[:3]))
        view.version(f"v{pyapp.__version__}", f"Hearth {pyapp.__version__}, Python {python}")
        view.status(State.LOADING, "Python is up; reading the app configuration…")
        config = AppConfig.from_json(host.config())
        settings_store = SettingsStore()
        stored, files, _ = await asyncio.gather(
            settings_store.load(), manifest(), load_packages("markdown-it-py", "pygments")
        )
        prefs, problems = Preferences.load(stored, host.query())
        local = LocalProvider(config, files, prefs.effective.threads)
        providers: dict[Backend, Provider] = {
            Backend.BROWSER: local,
            Backend.FOUNDRY: FoundryProvider(),
        }
        from pyapp.markdown import Markdown  # needs the packages loaded above

        markdown = Markdown() if prefs.effective.markdown else None
        library = Library(ChatRecords(), Tab(host.tab_chat(), view.tab_chat))
        app = App(view, prefs, providers, settings_store, library, markdown, extract_in_page)
        local.on_notice = view.banner
        host.listen(app.handle)
        await app.start(problems)
        early = await host.early_phases()
        view.phases({"python": python_s, **host.boot_marks(), **local.phases, **early})
    except Exception as error:  # noqa: BLE001 - boot must always end in a visible state
        view.status(State.ERROR, "Hearth failed to start")
        view.banner(f"{error}. Reload the page; if it persists, run `python build.py` again.")
        raise
