"""In-memory stores for CPython tests: what IndexedDB holds in the page, as plain dicts.
`refuse` makes every write fail like a full or disabled browser storage would."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from pyapp.errors import StorageError

# how many event-loop turns a claim waits for another tab's rename or delete
BRIEF_HOLD_TURNS = 1000


@dataclass
class MemoryRecords:
    records: dict[str, dict[str, object]] = field(default_factory=dict)
    open_id: str | None = None
    refuse: StorageError | None = None  # every call raises this, as a broken storage does
    writes: int = 0
    pending: list[object] = field(default_factory=list)
    # the chats some tab holds (Web Locks), each True while a reply is written into it
    held: dict[str, bool] = field(default_factory=dict)

    def _check(self) -> None:
        if self.refuse is not None:
            raise self.refuse

    async def load(self) -> list[object]:
        self._check()
        return [copy.deepcopy(r) for r in self.records.values()]

    async def load_one(self, chat_id: str) -> object | None:
        self._check()
        record = self.records.get(chat_id)
        return copy.deepcopy(record) if record is not None else None

    async def put(self, record: dict[str, object]) -> None:
        self._check()
        self.writes += 1
        self.records[str(record["id"])] = copy.deepcopy(record)

    async def delete(self, chat_id: str) -> None:
        self._check()
        self.records.pop(chat_id, None)

    async def load_open(self) -> str | None:
        self._check()
        return self.open_id

    async def save_open(self, chat_id: str) -> None:
        self._check()
        self.open_id = chat_id

    async def load_pending(self) -> list[object]:
        self._check()
        return copy.deepcopy(self.pending)

    async def save_pending(self, files: list[dict[str, object]]) -> None:
        self._check()
        self.pending = copy.deepcopy(files)  # type: ignore[arg-type]

    async def claim(self, chat_id: str, reply: bool) -> Callable[[], object] | None:
        for _ in range(BRIEF_HOLD_TURNS):  # site/store.js waits BRIEF_HOLD_MS
            if chat_id not in self.held:
                break
            if self.held[chat_id]:
                return None
            await asyncio.sleep(0)  # another tab's rename or delete, over in a moment
        else:
            return None
        self.held[chat_id] = reply
        return lambda: self.held.pop(chat_id, None)
