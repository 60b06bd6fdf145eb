"""The real SmolLM2 tokenizer.json, as shipped in `dist/`, against Hugging Face `tokenizers`:
the 2,500-string corpus, the 32,000-character adversarial inputs and the special tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer as HFTokenizer

from pyapp.tokenizer import Tokenizer
from tests.unit.tokenizer_fixtures import PAIRS_PER_BYTE, adversarial, corpus, mismatches


@pytest.fixture(scope="module")
def tokenizer_json(dist: Path) -> Path:
    config = json.loads((dist / "app-config.json").read_text())
    folder: str = config["models"][0]["path"]
    return dist / folder / "tokenizer.json"


@pytest.fixture(scope="module")
def pair(tokenizer_json: Path) -> tuple[Tokenizer, HFTokenizer]:
    return Tokenizer.from_json(tokenizer_json), HFTokenizer.from_file(str(tokenizer_json))


def test_matches_hf_tokenizers_exactly(pair: tuple[Tokenizer, HFTokenizer]) -> None:
    ours, theirs = pair
    strings = corpus(2500)
    assert len(strings) >= 2000
    assert mismatches(ours, theirs, strings) == []


@pytest.mark.parametrize("name", list(adversarial()))
def test_matches_hf_on_adversarial_inputs(pair: tuple[Tokenizer, HFTokenizer], name: str) -> None:
    ours, theirs = pair
    assert mismatches(ours, theirs, [adversarial()[name]]) == []


@pytest.mark.parametrize("name", list(adversarial()))
def test_work_is_linear_in_bytes(tokenizer_json: Path, name: str) -> None:
    text = adversarial()[name]
    tok = Tokenizer.from_json(tokenizer_json)
    tok.encode(text)
    assert tok.pairs_examined <= PAIRS_PER_BYTE * len(text.encode("utf-8"))


def test_special_tokens_map_to_their_ids(tokenizer_json: Path) -> None:
    tok = Tokenizer.from_json(tokenizer_json.read_text())
    assert tok.encode("<|im_start|>user\nhi<|im_end|>")[:1] == [1]
    assert tok.encode("<|im_end|>") == [2]
    assert tok.decode([1, 2]) == ""
    assert tok.decode([1], skip_special_tokens=False) == "<|im_start|>"
