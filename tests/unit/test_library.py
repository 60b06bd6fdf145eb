"""Kept chats: the record schema and its checks, export/import, and the library over a
store that can refuse."""

from __future__ import annotations

import asyncio
import json

import pytest

from pyapp.chats import (
    SCHEMA,
    Chat,
    ChatMessage,
    MessageState,
    RecordError,
    chat_from_json,
    chat_to_json,
    export_json,
    export_markdown,
    import_json,
    migrate,
    title_from,
)
from pyapp.errors import StorageError
from pyapp.library import Library
from pyapp.stats import ReplyStats, StopReason
from pyapp.templates import Role
from tests.conftest import run_async
from tests.support.memory import MemoryRecords


def chat(title: str = "Capital", *texts: str, updated: float = 100.0) -> Chat:
    messages = []
    for i, text in enumerate(texts or ("Capital of France?", "Paris.")):
        role = Role.USER if i % 2 == 0 else Role.ASSISTANT
        messages.append(
            ChatMessage(role, text, backend="browser" if role == Role.ASSISTANT else None)
        )
    return Chat(title=title, created=updated - 1, updated=updated, messages=messages)


def test_a_record_round_trips_every_field() -> None:
    original = chat()
    original.messages[1].stats = ReplyStats(0.2, StopReason.EOS, 30, 0, 7, 27.5, 41)
    original.messages[1].model = "SmolLM2"
    original.messages[1].state = MessageState.STOPPED
    again = chat_from_json(json.loads(json.dumps(chat_to_json(original))))
    assert again == original


def test_a_reply_saved_mid_stream_comes_back_interrupted() -> None:
    record = chat_to_json(chat())
    record["messages"][1]["state"] = "streaming"
    assert chat_from_json(record).messages[1].state == MessageState.INTERRUPTED


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r.update(messages="nope"), "no message list"),
        (lambda r: r.update(id=""), "'id'"),
        (lambda r: r.update(created="yesterday"), "'created'"),
        (lambda r: r["messages"][0].update(role="system"), "role"),
        (lambda r: r["messages"][0].update(role="wizard"), "wizard"),
        (lambda r: r["messages"][0].update(text=5), "'text'"),
        (lambda r: r["messages"][0].update(state="exploded"), "exploded"),
        (lambda r: r["messages"][1].update(stats=[1]), "stats"),
        (lambda r: r.update(schema=SCHEMA + 1), "newer Hearth"),
        (lambda r: r.update(schema="one"), "schema version"),
    ],
)
def test_records_are_checked_field_by_field(change: object, words: str) -> None:
    record = chat_to_json(chat())
    change(record)  # type: ignore[operator]
    with pytest.raises(RecordError, match=words):
        chat_from_json(record)


def test_migrations_run_one_version_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain a future schema change plugs into: each step is applied once, in order."""
    steps: list[int] = []

    def step(version: int) -> object:
        def run(record: dict[str, object]) -> dict[str, object]:
            steps.append(version)
            return {**record, f"added_in_{version + 1}": True}

        return run

    monkeypatch.setattr("pyapp.chats.SCHEMA", 3)
    monkeypatch.setattr("pyapp.chats.MIGRATIONS", {1: step(1), 2: step(2)})
    migrated = migrate({"schema": 1, "id": "x"})
    assert steps == [1, 2]
    assert migrated == {"schema": 3, "id": "x", "added_in_2": True, "added_in_3": True}


def test_export_and_import_are_a_lossless_round_trip() -> None:
    chats = [chat("One", "a", "b", updated=1.0), chat("Two", "c", "d", "e", "f", updated=2.0)]
    text = export_json(chats, when=123.0)
    assert json.loads(text)["format"] == "hearth-chats"
    assert import_json(text) == chats


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"format": "hearth-chats", "chats": [', "not valid JSON"),
        ("[1, 2, 3]", "not a Hearth chat export"),
        ('{"format": "something-else", "chats": []}', "not a Hearth chat export"),
        ('{"format": "hearth-chats", "chats": {}}', "no chat list"),
        ('{"format": "hearth-chats", "version": 1, "chats": [{"id": 5}]}', "cannot be read"),
        (
            '{"format": "hearth-chats", "version": 2, "chats": []}',
            "cannot be read: it holds no chats",
        ),
        # a newer file says so, even with chats this version could not tell apart
        (
            '{"format": "hearth-chats", "version": 99, "chats": []}',
            r"cannot be read: it was written by a newer Hearth \(schema 99; this one reads up "
            r"to 2\); update Hearth first; nothing was imported\.$",
        ),
    ],
)
def test_a_bad_file_is_one_sentence(text: str, words: str) -> None:
    with pytest.raises(RecordError, match=words) as raised:
        import_json(text)
    assert str(raised.value).endswith("nothing was imported.")


def test_markdown_export_names_who_wrote_what() -> None:
    exported = chat("Capital", "Capital of **France**?", "Paris.")
    exported.messages[1].model = "SmolLM2"
    assert export_markdown(exported) == (
        "# Capital\n\n**You**\n\nCapital of **France**?\n\n**Assistant (SmolLM2)**\n\nParis.\n"
    )


def test_titles_come_from_the_first_prompt() -> None:
    assert (
        title_from("  \n What is the capital of France?\nMore") == "What is the capital of France?"
    )
    long = title_from("word " * 40)
    assert long.endswith("…") and len(long) <= 61
    assert title_from("   ") == "New chat"


def test_the_library_lists_newest_first_and_searches_text() -> None:
    library = Library(MemoryRecords())
    older, newer = (
        chat("Paris", "Capital?", "Paris.", updated=1.0),
        chat("Cake", "Bake?", "Yes, with flour.", updated=2.0),
    )
    for c in (older, newer):
        run_async(library.save(c))
    run_async(library.save(Chat()))  # an empty chat is not listed
    assert [s.title for s in library.summaries()] == ["Cake", "Paris"]
    assert [s.title for s in library.summaries("FLOUR")] == ["Cake"]  # message text, any case
    assert [s.title for s in library.summaries("pari")] == ["Paris"]
    assert library.summaries("nowhere") == []


def test_the_library_reloads_what_it_saved_and_skips_a_corrupted_record() -> None:
    records = MemoryRecords()
    first = Library(records)
    kept = chat("Kept")
    run_async(first.save(kept))
    run_async(first.open(kept))
    records.records["broken"] = {"id": "broken", "messages": "oops"}
    second = Library(records)
    problems = run_async(second.load())
    assert len(problems) == 1 and "could not be read" in problems[0]
    assert second.opened() == kept


def test_rename_delete_and_undo() -> None:
    records = MemoryRecords()
    library = Library(records)
    kept = chat("Old name")
    run_async(library.save(kept))
    run_async(library.rename(kept.id, "  New \n name "))
    assert records.records[kept.id]["title"] == "New name"
    deleted = run_async(library.delete(kept.id))
    assert deleted is kept and records.records == {} and library.summaries() == []
    run_async(library.restore(kept))
    assert [s.title for s in library.summaries()] == ["New name"]


def test_import_adds_with_new_ids_and_never_overwrites() -> None:
    library = Library(MemoryRecords())
    mine = chat("Mine")
    run_async(library.save(mine))
    theirs = chat("Theirs")
    theirs.id = mine.id  # the same id, other content
    imported = run_async(library.import_file(export_json([theirs], 0.0)))
    assert imported.added[0].id != mine.id
    assert library.chats[mine.id].title == "Mine"
    assert sorted(s.title for s in library.summaries()) == ["Mine", "Theirs (imported)"]
    assert str(imported) == "Imported 1 chat."


def test_importing_the_same_file_again_adds_nothing_and_says_so() -> None:
    library = Library(MemoryRecords())
    first, second = chat("One"), chat("Two")
    for each in (first, second):
        run_async(library.save(each))
    exported = library.export_all(0.0)
    again = run_async(library.import_file(exported))
    assert again.added == [] and again.already == 2
    assert str(again) == "Nothing new to import: 2 chats are already here."
    assert len(library.summaries()) == 2
    first.messages.append(ChatMessage(Role.USER, "More"))  # it changed since the export
    run_async(library.save(first))
    changed = run_async(library.import_file(exported))
    assert str(changed) == "Imported 1 chat; 1 chat was already here."
    assert sorted(s.title for s in library.summaries()) == ["One", "One (imported)", "Two"]


def test_a_file_without_a_version_names_what_its_chats_lack() -> None:
    text = json.dumps({"format": "hearth-chats", "chats": [{"id": "x"}]})
    with pytest.raises(RecordError) as refused:
        import_json(text)
    assert "None" not in str(refused.value) and "nothing was imported" in str(refused.value)


def test_an_empty_chat_in_a_file_is_counted_as_skipped() -> None:
    library = Library(MemoryRecords())
    kept, empty = chat("Kept"), Chat(title="x" * 300)
    imported = run_async(library.import_file(export_json([kept, empty], 0.0)))
    assert [c.title for c in imported.added] == ["Kept"]
    assert str(imported) == "Imported 1 chat; 1 empty chat was skipped."
    assert [s.title for s in library.summaries()] == ["Kept"]


def test_storage_that_refuses_leaves_the_library_working_in_memory() -> None:
    records = MemoryRecords(refuse=StorageError("browser storage is unavailable: VersionError"))
    library = Library(records)
    problems = run_async(library.load())
    assert problems == [library.problem]
    assert "History is not being saved" in problems[0] and "VersionError" in problems[0]
    kept = chat("Here")
    run_async(library.save(kept))  # no exception: the chat lives on in memory
    assert [s.title for s in library.summaries()] == ["Here"]


def test_a_chat_held_by_two_changes_of_this_tab_stays_held_until_the_last_is_done() -> None:
    """A reply begun while this tab's rename of the chat is saving: the rename ends first,
    and the lock must stay until the reply ends, or another tab could write a second reply
    meanwhile."""
    records = MemoryRecords()
    library = Library(records)
    kept = chat()
    run_async(library.save(kept))
    renamed = asyncio.Event()
    seen: list[dict[str, bool]] = []

    async def rename() -> None:
        async with library.writing(kept.id, reply=False) as held:
            assert held
            await renamed.wait()

    async def reply() -> None:
        async with library.writing(kept.id, reply=True) as held:
            assert held  # at once: this tab holds it
            renamed.set()
            for _ in range(5):  # the rename ends meanwhile
                await asyncio.sleep(0)
            seen.append(dict(records.held))
        seen.append(dict(records.held))

    async def both() -> None:
        first = asyncio.ensure_future(rename())
        await asyncio.sleep(0)
        await asyncio.gather(first, reply())

    run_async(both())
    assert seen == [{kept.id: False}, {}]
