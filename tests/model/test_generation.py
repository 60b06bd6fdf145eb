"""pyapp's generation loop, local backend and chat session, in CPython over the real model."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from hearth_build.model.native import NativeModel, NativeStepSession
from pyapp.backends import LocalBackend, ReplyOptions
from pyapp.chat import ChatSession, Chunk, Failed, Turn
from pyapp.detokenizer import IncrementalDecoder
from pyapp.errors import PromptTooLong
from pyapp.generate import PREFILL_CALL_S, PREFILL_CHUNK, Generator, StopConditions
from pyapp.sampling import SamplingOptions
from pyapp.stats import StopReason
from pyapp.templates import ChatTemplate, Role
from pyapp.tokenizer import Tokenizer
from tests.conftest import ROOT
from tests.conftest import run_async as run


@pytest.fixture(scope="module")
def folder(dist: Path) -> Path:
    config = json.loads((dist / "app-config.json").read_text())
    return dist / config["models"][0]["path"]


def make_chat(folder: Path, context: int = 8192) -> tuple[ChatSession, NativeStepSession]:
    tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
    template = ChatTemplate.from_folder(folder)
    session = NativeStepSession(folder)
    generator = Generator(session, tokenizer, context)
    backend = LocalBackend("smollm2", "SmolLM2", generator, tokenizer, template, frozenset({2}))
    return ChatSession(backend), session


def turn(**options: object) -> Turn:
    return Turn("You are a helpful assistant.", ReplyOptions(**options))  # type: ignore[arg-type]


async def collect(chat: ChatSession, text: str, asked: Turn, stop_after: int = 0) -> str:
    chunks: list[str] = []
    async for event in chat.send(text, asked):
        if isinstance(event, Failed):
            raise event.error
        if isinstance(event, Chunk):
            chunks.append(event.text)
            if 0 < stop_after <= len(chunks):
                chat.stop()
    return "".join(chunks)


def test_golden_greedy_reply(folder: Path) -> None:
    chat, _ = make_chat(folder)
    text = run(collect(chat, "What is the capital of France?", turn(temperature=0)))
    assert text == "The capital of France is Paris."
    assert chat.last_stats is not None and chat.last_stats.reason == StopReason.EOS


def test_loop_matches_native_greedy_token_for_token(folder: Path) -> None:
    tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
    prompt = tokenizer.encode(
        "<|im_start|>user\nTell me about the sea.<|im_end|>\n<|im_start|>assistant\n"
    )
    expected = NativeModel(folder).greedy(prompt, 24)
    generator = Generator(NativeStepSession(folder), tokenizer, 8192)

    async def reply() -> str:
        options = SamplingOptions(temperature=0)
        stop = StopConditions(frozenset({2}), max_tokens=24)
        return "".join([c async for c in generator.run(prompt, options, stop)])

    assert run(reply()) == tokenizer.decode(expected)


def test_second_turn_evaluates_only_new_tokens(folder: Path) -> None:
    chat, session = make_chat(folder)
    greedy = turn(temperature=0)
    run(collect(chat, "What is the capital of France?", greedy))
    first = chat.last_stats
    second_text = run(collect(chat, "And of Germany?", greedy))
    second = chat.last_stats
    assert first is not None and second is not None
    assert "Berlin" in second_text
    assert second.cached_tokens >= first.prompt_tokens
    assert second.prompt_tokens < 20


def test_seeded_sampling_is_reproducible(folder: Path) -> None:
    settings = turn(temperature=0.9, seed=42, max_tokens=24)
    a, _ = make_chat(folder)
    b, _ = make_chat(folder)
    first = run(collect(a, "Tell me a story.", settings))
    second = run(collect(b, "Tell me a story.", settings))
    assert first == second and first


def test_cancel_keeps_partial_reply_in_history(folder: Path) -> None:
    chat, _ = make_chat(folder)
    text = run(collect(chat, "Write a long poem.", turn(temperature=0), stop_after=3))
    assert chat.last_stats is not None and chat.last_stats.reason == StopReason.CANCELLED
    assert chat.chat.messages[-1].text == text and text


def test_overflowing_history_is_trimmed_not_fatal(folder: Path) -> None:
    chat, _ = make_chat(folder, context=200)
    settings = turn(temperature=0, max_tokens=16)
    for question in ["Describe Paris in detail.", "Describe Rome in detail.", "And Berlin?"]:
        run(collect(chat, question, settings))
    stats = chat.last_stats
    assert stats is not None and stats.context_used is not None and stats.context_used <= 200
    with pytest.raises(PromptTooLong, match="Shorten it"):
        run(collect(chat, "word " * 400, settings))
    assert [m.role for m in chat.chat.messages][
        -1
    ] == Role.ASSISTANT  # the oversized turn is not kept
    assert chat.chat.messages[-2].text == "And Berlin?"


def test_incremental_decoding_never_splits_a_character(folder: Path) -> None:
    tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
    text = "Emoji 🔥🙂 and CJK 東京 and accents é."
    ids = tokenizer.encode(text)
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.push(i) for i in ids]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


@pytest.mark.parametrize("ending", ["stop string", "Stop"])
def test_a_step_started_for_a_token_the_reply_drops_leaves_no_trace(
    folder: Path, ending: str
) -> None:
    """The loop starts the next step before it shows a token. When the reply then ends
    without that token (a stop string, or Stop pressed), that step has run, and the cache
    is cut back to what the reply used: a follow-up turn answers as a fresh session does."""
    tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
    ask = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    prompt = tokenizer.encode(ask)
    greedy = SamplingOptions(temperature=0)
    session = NativeStepSession(folder)
    generator = Generator(session, tokenizer, 8192)
    shown: list[str] = []

    async def first() -> None:
        stops = ("Paris",) if ending == "stop string" else ()
        conditions = StopConditions(frozenset({2}), stops, max_tokens=24)
        pressed = lambda: ending == "Stop" and len(shown) >= 3  # noqa: E731
        async for text in generator.run(prompt, greedy, conditions, pressed):
            shown.append(text)

    run(first())
    stats = generator.stats
    assert stats is not None
    wanted = StopReason.STOP_STRING if ending == "stop string" else StopReason.CANCELLED
    assert stats.reason == wanted
    # the prompt's step, one per token, and the one started for the token that was dropped
    assert len(session.steps) == 1 + stats.generated_tokens
    assert session.length == len(generator.cached) == len(prompt) + stats.generated_tokens - 1

    before = len(generator.cached)
    follow = generator.cached + tokenizer.encode("<|im_end|>\n<|im_start|>user\nAnd Germany?")
    follow += tokenizer.encode("<|im_end|>\n<|im_start|>assistant\n")
    conditions = StopConditions(frozenset({2}), max_tokens=12)

    async def reply(on: Generator) -> str:
        return "".join([c async for c in on.run(follow, greedy, conditions)])

    reused = run(reply(generator))
    assert generator.stats is not None and generator.stats.cached_tokens == before
    assert reused == run(reply(Generator(NativeStepSession(folder), tokenizer, 8192)))


def long_prompt(tokenizer: Tokenizer) -> list[int]:
    story = (ROOT / "LICENSE").read_text()[:4000]
    text = f"<|im_start|>user\nSum this up:\n{story}<|im_end|>\n<|im_start|>assistant\n"
    return tokenizer.encode(text)


def call_s(tokens: int, cached: int) -> float:
    """What a step of `tokens` after `cached` takes on `paced`'s clock: attention's cost grows
    with the context, steeply enough that a long prompt's chunks must shrink."""
    return tokens * 0.004 * (1 + cached / 512)


def paced(session: NativeStepSession) -> Callable[[], float]:
    """A clock on which each step of `session` took `call_s`."""

    def now() -> float:
        spent, cached = 0.0, 0
        for n in session.steps:
            spent, cached = spent + call_s(n, cached), cached + n
        return spent

    return now


def test_a_long_prompt_is_read_in_chunks_that_shrink_as_they_slow_with_the_same_greedy_reply(
    folder: Path,
) -> None:
    tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
    prompt = long_prompt(tokenizer)
    assert len(prompt) > 3 * PREFILL_CHUNK
    expected = NativeModel(folder).greedy(prompt, 16)  # the whole prompt in one call
    session = NativeStepSession(folder)
    clock = paced(session)
    generator = Generator(session, tokenizer, 8192, clock=clock)
    heard: list[tuple[int, int, int]] = []  # (read, to read, steps taken when told)

    async def reply() -> str:
        stop = StopConditions(frozenset({2}), max_tokens=16)
        told = lambda done, total: heard.append((done, total, len(session.steps)))  # noqa: E731
        chunks = generator.run(prompt, SamplingOptions(0), stop, reading=told)
        return "".join([c async for c in chunks])

    assert run(reply()) == tokenizer.decode(expected)
    n = len(prompt)
    first = session.steps.index(1) if 1 in session.steps else len(session.steps)
    chunks = session.steps[:first]  # then one token a step
    assert sum(chunks) == n and set(session.steps[first:]) == {1}
    *read, last = chunks  # the last goes with the first token
    assert read[0] == PREFILL_CHUNK and last <= generator.chunk <= read[-1]
    assert all(c in (32, 64, 128, 256) for c in read) and read == sorted(read, reverse=True)
    assert read[-1] < PREFILL_CHUNK  # they shrank, and the next turn starts from there
    took = [call_s(c, sum(read[:i])) for i, c in enumerate(read)]
    assert max(took) < PREFILL_CALL_S * 1.1 < call_s(PREFILL_CHUNK, n - last)  # Stop waits less
    # told before each chunk, after the last one, and once the first token is out
    done = [sum(read[:i]) for i in range(len(read) + 1)]
    assert heard[:-1] == [(d, n, i) for i, d in enumerate(done)]
    assert heard[-1] == (n, n, len(chunks))


def test_stop_during_a_long_prompt_acts_after_one_chunk_and_keeps_it_cached(
    folder: Path,
) -> None:
    tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
    prompt = long_prompt(tokenizer)
    session = NativeStepSession(folder)
    generator = Generator(session, tokenizer, 8192)

    async def reply() -> str:
        stop = StopConditions(frozenset({2}), max_tokens=16)
        run_ = generator.run(
            prompt, SamplingOptions(0), stop, cancelled=lambda: bool(session.steps)
        )
        return "".join([c async for c in run_])

    assert run(reply()) == ""
    assert session.steps == [PREFILL_CHUNK]  # Stop acted after the chunk in flight
    assert generator.stats is not None and generator.stats.reason == StopReason.CANCELLED
    assert generator.cached == prompt[:PREFILL_CHUNK]  # the next turn starts from it


class Scripted:
    """A StepSession whose model predicts `tokens`, one a step, whatever it is fed."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens, self.calls = tokens, 0

    def step(self, ids: Sequence[int]) -> Awaitable[tuple[list[float], list[int]]]:
        self.calls += 1
        return self._answer(self.tokens[self.calls - 1])

    async def _answer(self, token: int) -> tuple[list[float], list[int]]:
        return [0.0], [token]

    async def truncate(self, length: int) -> None:
        pass


def test_a_reply_cut_mid_character_by_max_tokens_ends_before_it(folder: Path) -> None:
    tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
    reply = tokenizer.encode("Hello 👩‍👩‍👧")
    cut = next(n for n in range(1, len(reply)) if "\ufffd" in tokenizer.decode(reply[:n]))
    generator = Generator(Scripted(reply), tokenizer, 8192)

    async def run_reply() -> str:
        stop = StopConditions(frozenset({2}), max_tokens=cut)
        return "".join([c async for c in generator.run([1, 2, 3], SamplingOptions(0), stop)])

    text = run(run_reply())
    assert text == tokenizer.decode(reply[:cut]).rstrip("\ufffd") and "\ufffd" not in text
