"""Keeping things in the browser: the worker's IndexedDB (site/store.js) behind the small
async stores the app asks for. Every refusal (quota, private mode, no IndexedDB) becomes
one StorageError whose text says what happened."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pyodide.ffi import JsException

from pyapp.browser import host
from pyapp.errors import StorageError

SETTINGS_KEY = "settings"
OPEN_KEY = "open"  # the id of the chat that was open
PENDING_KEY = "pending"  # the files attached to the message not sent yet


def explain(error: JsException) -> StorageError:
    name = str(getattr(error, "name", "") or "")
    if "Quota" in name or "quota" in str(error):
        return StorageError("browser storage is full")
    return StorageError(f"browser storage is unavailable: {error}")


class SettingsStore:
    """The settings as one JSON text under a key (read back as whatever it parses to: a
    damaged entry is the app's to handle, not a crash here)."""

    async def load(self) -> object:
        try:
            raw = await host.store().get("kv", SETTINGS_KEY)
        except JsException:
            return None  # no storage: defaults, and saving will say so
        if raw is None:
            return None
        try:
            return json.loads(str(raw))
        except ValueError:
            return "unreadable"

    async def save(self, data: dict[str, Any]) -> None:
        try:
            await host.store().put("kv", json.dumps(data), SETTINGS_KEY)
        except JsException as error:
            raise explain(error) from None


class ChatRecords:
    """One IndexedDB record per chat (the "chats" store, keyed by id), read back as plain
    dicts for pyapp.library to check."""

    async def load(self) -> list[object]:
        try:
            records = await host.store().getAll("chats")
        except JsException as error:
            raise explain(error) from None
        return list(host.to_py(records))

    async def load_one(self, chat_id: str) -> object | None:
        try:
            record = await host.store().get("chats", chat_id)
        except JsException as error:
            raise explain(error) from None
        return host.to_py(record) if record is not None else None

    async def put(self, record: dict[str, object]) -> None:
        try:
            await host.store().put("chats", host.to_js_object(record))
        except JsException as error:
            raise explain(error) from None

    async def delete(self, chat_id: str) -> None:
        try:
            await host.store().remove("chats", chat_id)
        except JsException as error:
            raise explain(error) from None

    async def load_open(self) -> str | None:
        try:
            value = await host.store().get("kv", OPEN_KEY)
        except JsException as error:
            raise explain(error) from None
        return value if isinstance(value, str) else None

    async def save_open(self, chat_id: str) -> None:
        try:
            await host.store().put("kv", chat_id, OPEN_KEY)
        except JsException as error:
            raise explain(error) from None

    async def load_pending(self) -> list[object]:
        try:
            value = await host.store().get("kv", PENDING_KEY)
        except JsException as error:
            raise explain(error) from None
        found = host.to_py(value) if value is not None else []
        return list(found) if isinstance(found, list) else []

    async def save_pending(self, files: list[dict[str, object]]) -> None:
        try:
            await host.store().put("kv", host.to_js_object(files), PENDING_KEY)
        except JsException as error:
            raise explain(error) from None

    async def claim(self, chat_id: str, reply: bool) -> Callable[[], object] | None:
        release = await host.store().claim(chat_id, reply)  # Web Locks; never rejects
        return None if release is None else release
