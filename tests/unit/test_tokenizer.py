"""pyapp's BPE must equal Hugging Face `tokenizers` exactly, on thousands of varied strings."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from tokenizers import Tokenizer as HFTokenizer

from pyapp.tokenizer import Tokenizer, UnsupportedTokenizer, gpt2_split
from tests.conftest import ROOT

FRAGMENTS = [
    "Hello",
    " world",
    "What's",
    " I'll",
    " they're",
    " we've",
    " I'm",
    " he'd",
    "'S",
    "''",
    "Paris",
    "🔥",
    "🙂👍🏽",
    "👨‍👩‍👧",
    "数字",
    "東京都",
    "한국어",
    "Ελληνικά",
    "русский",
    "עברית",
    "العربية",
    "ünïcödé",
    "naïve café",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\u200b",
    "\t",
    "\n",
    "\r\n",
    "  ",
    "    ",
    "\n\n\n",
    " ",
    "123",
    "4567890",
    "3.14159",
    "1e-9",
    "½",
    "Ⅻ",
    "٣",
    "def f(x):",
    "    return x**2",
    "# comment",
    "{'a': [1, 2]}",
    '<div class="x">',
    "&amp;",
    "https://example.org/a?b=c",
    "C:\\path\\file.txt",
    "$HOME",
    "a+b=c",
    "!!!",
    "...",
    "—",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>user\n",
    "x<|im_end|>y",
    "\x00",
    "\x7f",
    "\ufffd",
    "é",
    "e\u0301",
    "ﬁ",
    "Ａ",
    "𝔘𝔫𝔦",
    "🏳️‍🌈",
]


def corpus(count: int) -> list[str]:
    rng = random.Random(1234)
    out = [*FRAGMENTS]
    lines = (ROOT / "LICENSE").read_text().splitlines() + (
        ROOT / "README.md"
    ).read_text().splitlines()
    out += lines[:400]
    while len(out) < count:
        parts = rng.choices(FRAGMENTS, k=rng.randint(1, 12))
        if rng.random() < 0.3:
            parts.append("".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 8))))
        if rng.random() < 0.2:
            parts.append(" " * rng.randint(1, 6) + rng.choice(["", "x", "\n"]))
        out.append("".join(parts))
    return out


@pytest.fixture(scope="module")
def tokenizer_json(dist: Path) -> Path:
    config = json.loads((dist / "app-config.json").read_text())
    return dist / config["models"][0]["path"] / "tokenizer.json"


def test_matches_hf_tokenizers_exactly(tokenizer_json: Path) -> None:
    ours = Tokenizer.from_json(tokenizer_json)
    theirs = HFTokenizer.from_file(str(tokenizer_json))
    strings = corpus(2500)
    assert len(strings) >= 2000
    mismatches = []
    for text in strings:
        ids = ours.encode(text)
        expected = theirs.encode(text).ids
        if ids != expected:
            mismatches.append((text, ids, expected))
        assert ours.decode(ids) == theirs.decode(expected), text
        assert ours.decode(ids, skip_special_tokens=False) == theirs.decode(
            expected, skip_special_tokens=False
        ), text
    assert mismatches == []


def test_special_tokens_map_to_their_ids(tokenizer_json: Path) -> None:
    tok = Tokenizer.from_json(tokenizer_json.read_text())
    assert tok.encode("<|im_start|>user\nhi<|im_end|>")[:1] == [1]
    assert tok.encode("<|im_end|>") == [2]
    assert tok.decode([1, 2]) == ""
    assert tok.decode([1], skip_special_tokens=False) == "<|im_start|>"


def test_encodes_a_long_prompt(tokenizer_json: Path) -> None:
    """A 2,000-token prompt; the time is printed as a figure (bench measures it), not gated."""
    tok = Tokenizer.from_json(tokenizer_json)
    text = (ROOT / "LICENSE").read_text()
    started = time.perf_counter()
    ids = tok.encode(text)
    elapsed = time.perf_counter() - started
    assert len(ids) >= 2000
    print(f"encoded {len(ids)} tokens in {elapsed * 1000:.1f} ms")  # figure, not a gate


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("Hello world", ["Hello", " world"]),
        ("a  b", ["a", " ", " b"]),
        ("a \nb", ["a", " ", "\n", "b"]),
        ("x   ", ["x", "   "]),
        ("it's 42!", ["it", "'s", " 42", "!"]),
        ("\n\n x", ["\n\n", " x"]),
    ],
)
def test_gpt2_split(text: str, pieces: list[str]) -> None:
    assert gpt2_split(text) == pieces


def test_unsupported_tokenizers_say_so() -> None:
    with pytest.raises(UnsupportedTokenizer, match="Unigram"):
        Tokenizer({"model": {"type": "Unigram"}})
