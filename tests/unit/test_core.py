"""Sampling, detokenisation, stop strings and context budgeting."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from pyapp.conversation import Conversation
from pyapp.detokenizer import IncrementalDecoder
from pyapp.errors import PromptTooLong
from pyapp.generate import StopStringFilter, common_prefix
from pyapp.sampling import SamplingOptions, penalize, sample
from pyapp.templates import Message, Role
from pyapp.tokenizer import Tokenizer

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


@pytest.fixture(scope="module")
def folder(dist: Path) -> Path:
    config = json.loads((dist / "app-config.json").read_text())
    return dist / config["models"][0]["path"]


def test_incremental_decoding_never_splits_a_character(folder: Path) -> None:
    tokenizer = Tokenizer.from_json(folder / "tokenizer.json")
    text = "Emoji 🔥🙂 and CJK 東京 and accents é."
    ids = tokenizer.encode(text)
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_stop_string_filter_holds_back_prefixes() -> None:
    stops = StopStringFilter(("</end>",))
    assert stops.push("Hello </") == ("Hello ", False)
    assert stops.push("e") == ("", False)
    assert stops.push("nd> tail") == ("", True)
    other = StopStringFilter(("</end>",))
    assert other.push("a </x") == ("a </x", False)
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2


def test_context_budget_drops_oldest_exchanges_keeps_system() -> None:
    conversation = Conversation(system="S")
    for i in range(4):
        conversation.add(Role.USER, f"q{i}")
        conversation.add(Role.ASSISTANT, f"a{i}")
    conversation.add(Role.USER, "last")
    fitted = conversation.fit(lambda messages: 10 * len(messages), budget=40)
    assert fitted[0] == Message(Role.SYSTEM, "S")
    assert fitted[-1] == Message(Role.USER, "last")
    assert [m.content for m in fitted] == ["S", "q3", "a3", "last"]
    with pytest.raises(PromptTooLong):
        conversation.fit(lambda messages: 10 * len(messages), budget=15)
