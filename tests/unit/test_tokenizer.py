"""pyapp's BPE must equal Hugging Face `tokenizers` exactly, and do bounded work on any input.

The tokenizers compared here are trained at test time (tokenizer_fixtures.py), so this tier
needs no build and no model cache; tests/model/test_tokenizer_real.py holds the real
SmolLM2 tokenizer to the same inputs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from tokenizers import Tokenizer as HFTokenizer

from pyapp.tokenizer import (
    CACHE_WORD_LENGTH,
    CACHE_WORDS,
    Tokenizer,
    TokenLimitExceeded,
    UnsupportedTokenizer,
    byte_to_unicode,
    gpt2_split,
)
from tests.unit.tokenizer_fixtures import (
    MASK,
    PAIRS_PER_BYTE,
    SEP,
    adversarial,
    comparable,
    corpus,
    mismatches,
    smollm_like,
    with_options,
)

SPECS: dict[str, Callable[[], str]] = {"smollm-like": smollm_like, "with-options": with_options}


@pytest.fixture(scope="module", params=list(SPECS))
def spec(request: pytest.FixtureRequest) -> str:
    return SPECS[request.param]()


@pytest.fixture(scope="module")
def pair(spec: str) -> tuple[Tokenizer, HFTokenizer]:
    return Tokenizer.from_json(spec), HFTokenizer.from_str(spec)


def test_matches_hf_on_the_corpus(pair: tuple[Tokenizer, HFTokenizer]) -> None:
    ours, theirs = pair
    strings = corpus(2500)
    kept = comparable(theirs, strings)
    assert len(kept) >= 0.99 * len(strings)
    assert mismatches(ours, theirs, kept) == []


@pytest.mark.parametrize("name", list(adversarial()))
def test_matches_hf_on_adversarial_inputs(pair: tuple[Tokenizer, HFTokenizer], name: str) -> None:
    ours, theirs = pair
    assert mismatches(ours, theirs, [adversarial()[name]]) == []


@pytest.mark.parametrize("unit", ["=", "a", " ", "\n", "🔥", "数", "0", "ab", "=-", "a "])
def test_equal_ranks_merge_leftmost_first(pair: tuple[Tokenizer, HFTokenizer], unit: str) -> None:
    """Runs like "aaaa" and "=====" offer the same pair at several places at once."""
    ours, theirs = pair
    assert mismatches(ours, theirs, [unit * k for k in range(1, 90)]) == []


@pytest.mark.parametrize("name", list(adversarial()))
def test_work_is_linear_in_bytes(spec: str, name: str) -> None:
    text = adversarial()[name]
    tok = Tokenizer.from_json(spec)
    tok.encode(text)
    assert tok.pairs_examined <= PAIRS_PER_BYTE * len(text.encode("utf-8"))


def test_work_counter_counts(spec: str) -> None:
    """The bound above would hold for a counter that never moves; this one must."""
    tok = Tokenizer.from_json(spec)
    tok.encode("=" * 32_000)
    assert tok.pairs_examined >= 32_000 - 1


def random_words(count: int) -> str:
    rng = random.Random(5)
    return " ".join(
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10)))
        for _ in range(count)
    )


def test_limit_stops_early(spec: str) -> None:
    """Refusing a prompt costs about what the part of it that fits costs, not the whole."""
    text = random_words(6000)  # mostly distinct words: no cache to hide the work
    full_tok = Tokenizer.from_json(spec)
    full = full_tok.encode(text)
    assert len(full) > 6000

    tok = Tokenizer.from_json(spec)
    with pytest.raises(TokenLimitExceeded) as stopped:
        tok.encode(text, limit=100)
    assert isinstance(stopped.value, ValueError)
    assert stopped.value.limit == 100
    assert 100 < stopped.value.counted <= 100 + 11  # stopped within the word that crossed
    assert tok.pairs_examined * 30 < full_tok.pairs_examined


def test_limit_is_exact_at_the_edge(pair: tuple[Tokenizer, HFTokenizer]) -> None:
    ours, _ = pair
    text = "Hello, world! 数字 🔥 <|im_end|> 12345 =====\n" * 3
    ids = ours.encode(text)
    assert ours.encode(text, limit=len(ids)) == ids
    with pytest.raises(TokenLimitExceeded) as stopped:
        ours.encode(text, limit=len(ids) - 1)
    assert stopped.value.counted == len(ids)


def test_a_word_too_long_to_fit_is_never_merged(spec: str) -> None:
    tok = Tokenizer.from_json(spec)
    with pytest.raises(TokenLimitExceeded) as stopped:
        tok.encode("Hello world " + "=" * 200_000, limit=50)
    assert stopped.value.counted > 50
    assert tok.pairs_examined < 100  # "Hello" and " world" only


def test_word_cache_is_bounded(spec: str) -> None:
    tok = Tokenizer.from_json(spec)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [letters[i % 26] + letters[i // 26 % 26] + letters[i // 676] for i in range(17_576)]
    tok.encode(" ".join(words))
    assert 0 < len(tok._cache) <= CACHE_WORDS

    long_word = "=" * CACHE_WORD_LENGTH
    tok.encode(long_word)
    before = tok.pairs_examined
    tok.encode(long_word)
    assert tok.pairs_examined > before  # merged again: too long to cache
    tok.encode("cached")
    before = tok.pairs_examined
    tok.encode("cached")
    assert tok.pairs_examined == before


def test_special_tokens_map_to_their_ids() -> None:
    tok = Tokenizer.from_json(smollm_like())
    assert tok.encode("<|im_start|>user\nhi<|im_end|>")[:1] == [1]
    assert tok.encode("<|im_end|>") == [2]
    assert tok.decode([1, 2]) == ""
    assert tok.decode([1], skip_special_tokens=False) == "<|im_start|>"


def test_bytes_missing_from_the_vocab_are_dropped() -> None:
    """As `tokenizers` does without an unk token (SmolLM2's vocab lacks \\x04, for one)."""
    tok = Tokenizer.from_json(smollm_like())
    assert byte_to_unicode()[4] not in tok.vocab
    assert tok.encode("\x04") == []
    assert tok.encode("=\x04=") == tok.encode("==")  # one word: the pair still merges


def _no_ignore_merges(spec: dict[str, Any]) -> None:
    spec["model"]["ignore_merges"] = False


def _no_prefix_space(spec: dict[str, Any]) -> None:
    spec["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = False


def _grouped_digits(spec: dict[str, Any]) -> None:
    spec["pre_tokenizer"]["pretokenizers"][0]["individual_digits"] = False


def _no_normalizer(spec: dict[str, Any]) -> None:
    spec["normalizer"] = None


def _no_stripping(spec: dict[str, Any]) -> None:
    for token in spec["added_tokens"]:
        if token["content"] in (MASK, SEP):
            token["lstrip"] = token["rstrip"] = False


@pytest.mark.parametrize(
    "edit", [_no_ignore_merges, _no_prefix_space, _grouped_digits, _no_normalizer, _no_stripping]
)
def test_the_options_fixture_exercises_each_option(edit: Callable[[dict[str, Any]], None]) -> None:
    """Turning any option off changes some ids, so the corpus really tests that option."""
    spec = json.loads(with_options())
    edit(spec)
    other = HFTokenizer.from_str(json.dumps(spec))
    reference = HFTokenizer.from_str(with_options())
    assert any(reference.encode(s).ids != other.encode(s).ids for s in corpus(2500))


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
    assert list(gpt2_split(text)) == pieces


def byte_level_bpe(**model: object) -> dict[str, object]:
    vocab = {c: i for i, c in enumerate(byte_to_unicode().values())}
    return {"model": {"type": "BPE", "vocab": vocab, "merges": [], **model}}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"model": {"type": "Unigram"}}, "Unigram"),
        (byte_level_bpe(byte_fallback=True), "byte fallback"),
        (byte_level_bpe(continuing_subword_prefix="##"), "subword prefix"),
        (byte_level_bpe(dropout=0.1), "dropout"),
        (byte_level_bpe(merges=["a zz"]), "damaged"),
        ({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "a"}}, "unknown"),
        ({**byte_level_bpe(), "normalizer": {"type": "Lowercase"}}, "Lowercase"),
        ({**byte_level_bpe(), "pre_tokenizer": {"type": "Metaspace"}}, "Metaspace"),
    ],
)
def test_unsupported_tokenizers_say_so(spec: dict[str, object], says: str) -> None:
    with pytest.raises(UnsupportedTokenizer, match=says):
        Tokenizer(spec)
