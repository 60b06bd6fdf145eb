"""`ChatSession` over a scripted backend: turns, rollback, stop, switching and saving."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pyapp.backends import BackendKind, ReplyOptions
from pyapp.chat import ChatEvent, ChatSession, Chunk, Failed, Finished, Started, Turn
from pyapp.chats import Attached, Chat, MessageState
from pyapp.errors import EngineError, PromptTooLong, RemoteError, StoppedEarly
from pyapp.templates import Message, Role
from tests.conftest import run_async
from tests.support.scripted import Script, ScriptedBackend

TURN = Turn(system="Be brief.", options=ReplyOptions(max_tokens=8))


def run(
    events: AsyncIterator[ChatEvent], stop_after: int = 0, session: ChatSession | None = None
) -> list[ChatEvent]:
    async def collect() -> list[ChatEvent]:
        seen: list[ChatEvent] = []
        async for event in events:
            seen.append(event)
            if (
                session is not None
                and stop_after
                and sum(isinstance(e, Chunk) for e in seen) == stop_after
            ):
                session.stop()
        return seen

    return run_async(collect())


def texts(chat: Chat) -> list[tuple[str, str]]:
    return [(m.role.value, m.text) for m in chat.messages]


def test_a_reply_streams_and_is_kept_with_who_answered() -> None:
    backend = ScriptedBackend([Script(["Par", "is."])])
    session = ChatSession(backend)
    events = run(session.send("Capital of France?", TURN))
    assert [type(e) for e in events] == [Started, Chunk, Chunk, Finished]
    assert isinstance(events[0], Started) and events[0].user is not None
    assert [e.text for e in events if isinstance(e, Chunk)] == ["Par", "is."]
    assert texts(session.chat) == [("user", "Capital of France?"), ("assistant", "Paris.")]
    reply = session.chat.messages[1]
    assert (reply.state, reply.backend, reply.model) == (MessageState.DONE, "browser", "Scripted")
    assert reply.stats is not None and reply.stats.generated_tokens == 2
    assert session.chat.title == "Capital of France?"
    assert backend.asked == [
        [Message(Role.SYSTEM, "Be brief."), Message(Role.USER, "Capital of France?")]
    ]
    assert not session.busy


def test_a_failure_before_the_first_chunk_leaves_no_turn_and_no_duplicate_on_resend() -> None:
    backend = ScriptedBackend(
        [Script(["never"], error=EngineError("ONNX Runtime failed")), Script(["Paris."])]
    )
    session = ChatSession(backend)
    events = run(session.send("Capital of France?", TURN))
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.prompt == "Capital of France?"  # given back to the user
    assert len(failed.removed) == 2  # the question's and the empty reply's bubbles
    assert session.chat.messages == []
    run(session.send("Capital of France?", TURN))
    # the second attempt asks the question once, not twice
    assert backend.asked[1] == [
        Message(Role.SYSTEM, "Be brief."),
        Message(Role.USER, "Capital of France?"),
    ]
    assert texts(session.chat) == [("user", "Capital of France?"), ("assistant", "Paris.")]


def test_a_failure_mid_reply_keeps_the_text_marked_interrupted() -> None:
    cut = RemoteError("the connection broke")
    session = ChatSession(ScriptedBackend([Script(["The capital", " is", " Paris"], cut, 1)]))
    events = run(session.send("Capital of France?", TURN))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.notice == "the connection broke"
    reply = session.chat.messages[-1]
    assert (reply.text, reply.state) == ("The capital", MessageState.INTERRUPTED)


def test_stop_keeps_the_partial_reply() -> None:
    session = ChatSession(ScriptedBackend([Script(["one", " two", " three", " four"])]))
    events = run(session.send("Count.", TURN), stop_after=2, session=session)
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert (finished.reply.text, finished.reply.state) == ("one two", MessageState.STOPPED)
    assert not session.busy


def stop_at_start(session: ChatSession, events: AsyncIterator[ChatEvent]) -> list[ChatEvent]:
    """Stop as soon as the reply has begun, before its first word."""

    async def collect() -> list[ChatEvent]:
        seen: list[ChatEvent] = []
        async for event in events:
            seen.append(event)
            if isinstance(event, Started):
                session.stop()
        return seen

    return run_async(collect())


def test_stop_before_the_first_word_undoes_the_turn() -> None:
    session = ChatSession(ScriptedBackend([Script(["Paris."]), Script(["never"])]))
    run(session.send("Capital of France?", TURN))
    events = stop_at_start(session, session.send("And of Germany?", TURN))
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, StoppedEarly)
    assert failed.prompt == "And of Germany?" and len(failed.removed) == 2
    assert "back in the message box" in str(failed.error)
    assert texts(session.chat) == [("user", "Capital of France?"), ("assistant", "Paris.")]


def test_a_new_chats_first_turn_undone_leaves_it_unnamed() -> None:
    session = ChatSession(ScriptedBackend([Script(["never"]), Script(["Hi!"])]))
    stop_at_start(session, session.send("Sum this up: …", TURN))
    assert session.chat.messages == [] and session.chat.title == ""
    run(session.send("Hello", TURN))
    assert session.chat.title == "Hello"  # named after the question it kept


def test_stop_before_a_regenerated_reply_begins_keeps_the_previous_one() -> None:
    session = ChatSession(ScriptedBackend([Script(["Paris."]), Script(["never"])]))
    run(session.send("Capital of France?", TURN))
    events = stop_at_start(session, session.regenerate(TURN))
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.restored and failed.prompt == ""
    assert str(failed.error) == "Stopped before the new reply began: the previous one is kept."
    assert texts(session.chat) == [("user", "Capital of France?"), ("assistant", "Paris.")]


def test_switching_backends_mid_thread_keeps_the_conversation() -> None:
    local = ScriptedBackend([Script(["Paris."])])
    remote = ScriptedBackend([Script(["Berlin."])], kind=BackendKind.FOUNDRY, model="big")
    session = ChatSession(local)
    run(session.send("Capital of France?", TURN))
    session.use(remote)
    run(session.send("And of Germany?", TURN))
    assert [m.content for m in remote.asked[0]] == [
        "Be brief.",
        "Capital of France?",
        "Paris.",
        "And of Germany?",
    ]
    assert [m.backend for m in session.chat.messages if m.role == Role.ASSISTANT] == [
        "browser",
        "foundry",
    ]


def test_nothing_switches_while_a_reply_is_written() -> None:
    session = ChatSession(ScriptedBackend([Script(["a", "b"])]))

    async def switch_midway() -> None:
        async for event in session.send("hi", TURN):
            if isinstance(event, Chunk):
                with pytest.raises(RuntimeError, match="while a reply"):
                    session.use(ScriptedBackend([]))
                with pytest.raises(RuntimeError, match="while a reply"):
                    session.open(Chat())

    run_async(switch_midway())


def test_a_prompt_that_cannot_fit_is_refused_before_anything_is_added() -> None:
    backend = ScriptedBackend([], context_length=20)
    session = ChatSession(backend)
    events = run(session.send("word " * 50, Turn("", ReplyOptions(max_tokens=4))))
    (failed,) = events
    assert isinstance(failed, Failed) and isinstance(failed.error, PromptTooLong)
    assert failed.removed == () and session.chat.messages == []
    assert backend.asked == []


def test_a_message_too_long_with_files_attached_names_them() -> None:
    backend = ScriptedBackend([], context_length=20)
    session = ChatSession(backend)
    files = [Attached("notes.txt", "text", "word " * 40, 40), Attached("b.md", "text", "x", 1)]
    (failed,) = run(session.send("Sum up", Turn("", ReplyOptions(max_tokens=4)), files))
    assert isinstance(failed, Failed) and isinstance(failed.error, PromptTooLong)
    assert str(failed.error).startswith("Your message with “notes.txt” and “b.md” needs ")
    assert str(failed.error).endswith(
        "Remove a file or shorten the message: the model's whole context is 20 tokens."
    )


def test_an_edit_too_long_for_its_files_does_not_say_to_remove_one() -> None:
    backend = ScriptedBackend([Script(["Noted."])], context_length=60)
    session = ChatSession(backend)
    files = [Attached("notes.txt", "text", "word " * 30, 30)]
    run(session.send("Sum up", Turn("", ReplyOptions(max_tokens=4)), files))
    asked = session.chat.messages[0]
    (failed,) = run(session.edit(asked.id, "Sum up " * 20, Turn("", ReplyOptions(max_tokens=4))))
    assert isinstance(failed, Failed) and isinstance(failed.error, PromptTooLong)
    assert str(failed.error).startswith("Your message with “notes.txt” needs ")
    assert "Ask it as a new message with less attached" in str(failed.error)
    assert [m.text for m in session.chat.messages] == ["Sum up", "Noted."]  # as it was


def test_history_that_outgrows_the_context_drops_the_oldest_exchange() -> None:
    backend = ScriptedBackend(
        [Script(["a " * 20]), Script(["b"]), Script(["c"])], context_length=40
    )
    session = ChatSession(backend)
    options = Turn("sys", ReplyOptions(max_tokens=10))
    started = []
    for question in ("first question here", "second question", "third"):
        started += [e for e in run(session.send(question, options)) if isinstance(e, Started)]
    assert [e.forgotten for e in started] == [0, 0, 2]  # what the app says the model misses
    last = backend.asked[-1]
    assert last[0] == Message(Role.SYSTEM, "sys") and last[-1].content == "third"
    assert "first question here" not in [m.content for m in last]
    assert len(session.chat.messages) == 6  # the chat itself keeps everything


def test_regenerate_replaces_the_last_reply() -> None:
    backend = ScriptedBackend([Script(["Lyon."]), Script(["Paris."])])
    session = ChatSession(backend)
    run(session.send("Capital of France?", TURN))
    first_id = session.chat.messages[-1].id
    events = run(session.regenerate(TURN))
    assert isinstance(events[0], Started) and events[0].user is None
    assert texts(session.chat) == [("user", "Capital of France?"), ("assistant", "Paris.")]
    assert session.chat.messages[-1].id != first_id
    assert backend.asked[1] == backend.asked[0]  # the same question, asked again


def test_regenerate_that_fails_keeps_the_old_reply() -> None:
    backend = ScriptedBackend([Script(["Lyon."]), Script(["x"], error=EngineError("boom"))])
    session = ChatSession(backend)
    run(session.send("Capital of France?", TURN))
    events = run(session.regenerate(TURN))
    assert isinstance(events[-1], Failed)
    assert texts(session.chat) == [("user", "Capital of France?"), ("assistant", "Lyon.")]


def test_edit_replaces_what_followed_the_edited_message() -> None:
    backend = ScriptedBackend([Script(["Paris."]), Script(["Berlin."]), Script(["Rome."])])
    session = ChatSession(backend)
    run(session.send("Capital of France?", TURN))
    run(session.send("And of Germany?", TURN))
    first = session.chat.messages[0]
    run(session.edit(first.id, "Capital of Italy?", TURN))
    assert texts(session.chat) == [("user", "Capital of Italy?"), ("assistant", "Rome.")]
    assert session.chat.messages[0].id == first.id
    assert [m.content for m in backend.asked[-1]] == ["Be brief.", "Capital of Italy?"]


def test_editing_the_first_message_renames_a_chat_named_after_it() -> None:
    backend = ScriptedBackend([Script(["Paris."]), Script(["Rome."]), Script(["Oslo."])])
    session = ChatSession(backend)
    run(session.send("Capital of France?", TURN))
    assert session.chat.title == "Capital of France?"
    run(session.edit(session.chat.messages[0].id, "Capital of Italy?", TURN))
    assert session.chat.title == "Capital of Italy?"
    session.chat.title = "Geography"  # a name the user gave it stays
    run(session.edit(session.chat.messages[0].id, "Capital of Norway?", TURN))
    assert session.chat.title == "Geography"


def test_an_edit_that_gets_no_reply_keeps_the_title() -> None:
    backend = ScriptedBackend([Script(["Paris."]), Script(["x"], error=EngineError("boom"))])
    session = ChatSession(backend)
    run(session.send("Capital of France?", TURN))
    events = run(session.edit(session.chat.messages[0].id, "Capital of Italy?", TURN))
    assert isinstance(events[-1], Failed)
    assert texts(session.chat) == [("user", "Capital of France?"), ("assistant", "Paris.")]
    assert session.chat.title == "Capital of France?"


def test_editing_a_later_message_keeps_the_title() -> None:
    backend = ScriptedBackend([Script(["Paris."]), Script(["Berlin."]), Script(["Rome."])])
    session = ChatSession(backend)
    run(session.send("Capital of France?", TURN))
    run(session.send("And of Germany?", TURN))
    run(session.edit(session.chat.messages[2].id, "And of Italy?", TURN))
    assert session.chat.title == "Capital of France?"


class Saved:
    def __init__(self) -> None:
        self.states: list[list[tuple[str, str, str]]] = []

    async def save(self, chat: Chat) -> None:
        self.states.append([(m.role.value, m.text, m.state.value) for m in chat.messages])


def test_a_streaming_reply_is_saved_at_least_once_a_second() -> None:
    ticks = iter(float(t) for t in range(100))  # each clock read is one second later
    store = Saved()
    session = ChatSession(
        ScriptedBackend([Script(["a", "b", "c"])]), store=store, clock=lambda: next(ticks)
    )
    run(session.send("hi", TURN))
    assert store.states[0] == [("user", "hi", "done"), ("assistant", "", "streaming")]
    partial = [s[-1][1] for s in store.states if s[-1][2] == "streaming"]
    assert partial == ["", "a", "ab", "abc"]  # a save after every chunk at one per second
    assert store.states[-1][-1] == ("assistant", "abc", "done")


def test_without_time_passing_only_the_start_and_end_are_saved() -> None:
    store = Saved()
    session = ChatSession(
        ScriptedBackend([Script(["a", "b", "c"])]), store=store, clock=lambda: 0.0
    )
    run(session.send("hi", TURN))
    assert [s[-1][2] for s in store.states] == ["streaming", "done"]
