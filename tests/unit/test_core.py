"""Sampling, stop strings and context budgeting."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import pytest

from pyapp.conversation import EXACT_COUNT_FACTOR, ContextWindow, fit
from pyapp.errors import PromptTooLong
from pyapp.generate import (
    PREFILL_CALL_S,
    PREFILL_CHUNK,
    PREFILL_MIN,
    StopStringFilter,
    common_prefix,
    next_chunk,
)
from pyapp.sampling import SamplingOptions, penalize, sample
from pyapp.templates import Message, Role

VALUES = [5.0, 4.0, 1.0, 0.5, -1.0]
IDS = [10, 11, 12, 13, 14]


def test_greedy_takes_the_best() -> None:
    assert sample(VALUES, IDS, SamplingOptions(temperature=0), random.Random(0)) == 10


def test_repetition_penalty_can_change_greedy() -> None:
    options = SamplingOptions(temperature=0, repetition_penalty=2.0)
    assert sample(VALUES, IDS, options, random.Random(0), seen={10}) == 11
    assert penalize([2.0, -2.0], [1, 2], {1, 2}, 2.0) == [1.0, -4.0]


def test_seed_reproduces_and_top_k_top_p_limit() -> None:
    options = SamplingOptions(temperature=1.0, top_k=3, top_p=1.0, seed=7)
    first = [sample(VALUES, IDS, options, random.Random(7)) for _ in range(5)]
    again = [sample(VALUES, IDS, options, random.Random(7)) for _ in range(5)]
    assert first == again
    rng = random.Random(1)
    counts = Counter(sample(VALUES, IDS, options, rng) for _ in range(2000))
    assert set(counts) <= {10, 11, 12}
    assert counts[10] > counts[11] > counts[12] > 0
    nucleus = SamplingOptions(temperature=1.0, top_k=5, top_p=0.5)
    assert {sample(VALUES, IDS, nucleus, rng) for _ in range(200)} == {10}


def test_stop_string_filter_holds_back_prefixes() -> None:
    stops = StopStringFilter(("</end>",))
    assert stops.push("Hello </") == ("Hello ", False)
    assert stops.push("e") == ("", False)
    assert stops.push("nd> tail") == ("", True)
    other = StopStringFilter(("</end>",))
    assert other.push("a </x") == ("a </x", False)
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2


def test_the_prefill_chunk_is_what_a_second_reads_in_powers_of_two() -> None:
    assert next_chunk(256, 0.1) == PREFILL_CHUNK  # quick: no bigger than the cap
    assert next_chunk(32, 0.0) == PREFILL_CHUNK  # too quick to time
    assert next_chunk(256, PREFILL_CALL_S) == 256
    assert next_chunk(256, PREFILL_CALL_S * 1.01) == 128  # never above what fits
    assert next_chunk(256, 2.0) == 128  # 256 tokens near 4,000 on 2 cores
    assert next_chunk(256, 4.5) == PREFILL_MIN  # the same on a slower machine
    assert next_chunk(64, 0.1) == PREFILL_CHUNK  # grows back at once
    assert next_chunk(32, 30.0) == PREFILL_MIN  # however slow, still progress
    sizes = {next_chunk(n, s / 100) for n in (32, 100, 256) for s in range(1, 500)}
    assert sizes == {64, 128, 256}  # the only shapes a session sees


def conversation() -> list[Message]:
    messages = [Message(Role.SYSTEM, "S")]
    for i in range(4):
        messages += [Message(Role.USER, f"q{i}"), Message(Role.ASSISTANT, f"a{i}")]
    return messages + [Message(Role.USER, "last")]


def ten_each(messages: Sequence[Message], limit: int) -> int:
    return 10 * len(messages)


def test_context_budget_drops_oldest_exchanges_keeps_system() -> None:
    fitted = fit(conversation(), ten_each, budget=40)
    assert [m.content for m in fitted] == ["S", "q3", "a3", "last"]
    with pytest.raises(PromptTooLong, match="needs 20 tokens but only 15 fit"):
        fit(conversation(), ten_each, budget=15)


def test_a_refused_prompt_is_counted_only_up_to_a_cap() -> None:
    limits: list[int] = []

    def huge(messages: Sequence[Message], limit: int) -> int:
        limits.append(limit)
        return limit + 1  # what a counter that stops early returns

    with pytest.raises(PromptTooLong, match="needs more than 1,600 tokens"):
        fit([Message(Role.USER, "x" * 10**6)], huge, budget=100)
    assert limits == [100, 100 * EXACT_COUNT_FACTOR]


def test_an_outsized_max_tokens_never_leaves_a_negative_budget() -> None:
    window = ContextWindow(8192, lambda messages, limit: 5000)
    assert window.reply_room(512) == 512
    assert window.reply_room(32768) == 4096  # half the context at most
    with pytest.raises(PromptTooLong, match="needs 5,000 tokens but only 4,096 fit") as refused:
        window.fit([Message(Role.USER, "a long paste")], 32768)
    assert str(refused.value).endswith("Shorten it, or lower max tokens to leave it more room.")


def test_a_message_longer_than_the_whole_context_is_not_told_to_lower_max_tokens() -> None:
    window = ContextWindow(8192, lambda messages, limit: min(9000, limit + 1))
    with pytest.raises(PromptTooLong) as refused:
        window.fit([Message(Role.USER, "a longer paste")], 512)
    assert str(refused.value) == (
        "Your message needs 9,000 tokens but only 7,680 fit in the model's context after "
        "room for the reply. Shorten it: the model's whole context is 8,192 tokens."
    )


def test_a_system_prompt_too_long_for_the_context_is_named_not_the_message() -> None:
    def words(messages: Sequence[Message], limit: int) -> int:
        return sum(len(m.content.split()) for m in messages)

    long_system = [Message(Role.SYSTEM, "Be terse. " * 5000), Message(Role.USER, "hi")]
    with pytest.raises(PromptTooLong) as refused:
        fit(long_system, words, budget=7680, context=8192)
    assert str(refused.value) == (
        "Your message and the system prompt need 10,001 tokens but only 7,680 fit in the "
        "model's context after room for the reply, and most of that is the system prompt. "
        "Shorten it in Settings (or choose Use default there)."
    )
    # the refusal named with the message's files still blames the system prompt
    assert refused.value.with_files(("a.txt",), removable=True).system
    both = [Message(Role.SYSTEM, "a " * 6000), Message(Role.USER, "b " * 7000)]
    with pytest.raises(PromptTooLong, match="^Your message needs 13,000 tokens"):
        fit(both, words, budget=7680, context=8192)  # the message is most of it
