"""Strings and small tokenizers for comparing pyapp's BPE with Hugging Face `tokenizers`.

The tokenizers are trained here, at test time, with `tokenizers` itself on in-repo text
plus generated text, so the unit tests need neither a build nor the model cache. One is
configured like SmolLM2's `tokenizer.json`; the other turns on every option pyapp
supports that SmolLM2 leaves off.
"""

from __future__ import annotations

import base64
import json
import random
import unicodedata
from collections.abc import Iterable, Iterator
from functools import cache

from tokenizers import AddedToken, decoders, normalizers, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer
from tokenizers.models import BPE

from pyapp.tokenizer import Tokenizer
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
    "²",
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
    "=====",
    "aaaa",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>user\n",
    "x<|im_end|>y",
    "<mask>",
    " <mask> ",
    "＜mask＞",
    "[SEP]",
    "\t[SEP]\n",
    "\x00",
    "\x04",
    "\x1c",
    "\x7f",
    "\U00040000",
    "\ufffd",
    "é",
    "e\u0301",
    "ﬁ",
    "Ａ",
    "𝔘𝔫𝔦",
    "🏳️‍🌈",
]
# A LICENSE word (so in the corpus) that the second tokenizer has as one token no merge
# builds: only ignore_merges finds it.
UNMERGED = " irrevocable"
# The added tokens of the second tokenizer (the first has only its special tokens).
MASK = "<mask>"
SEP = "[SEP]"
LONG = 32_000
# A heap BPE looks up at most 6 pairs per byte: n - 1 to fill the heap, then at most one per
# popped entry and two per merge; entries are the n - 1 first pairs plus at most two per merge,
# and a word of n bytes has at most n - 1 merges. Every push or pop (O(log n)) follows or
# precedes a look-up, so the work is O(n log n). Rescanning after every merge looks up O(n²).
PAIRS_PER_BYTE = 6


def repo_lines() -> list[str]:
    return (ROOT / "LICENSE").read_text().splitlines() + (
        ROOT / "README.md"
    ).read_text().splitlines()


def corpus(count: int) -> list[str]:
    """The fragments, repository lines, then random mixes of fragments up to `count`."""
    rng = random.Random(1234)
    out = [*FRAGMENTS, *repo_lines()[:400]]
    while len(out) < count:
        parts = rng.choices(FRAGMENTS, k=rng.randint(1, 12))
        if rng.random() < 0.3:
            parts.append("".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 8))))
        if rng.random() < 0.2:
            parts.append(" " * rng.randint(1, 6) + rng.choice(["", "x", "\n"]))
        out.append("".join(parts))
    return out


def _cjk(rng: random.Random, n: int) -> str:
    return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(n))


def _filled(rng: random.Random, choices: list[str], n: int) -> str:
    """Random picks from `choices`, joined, cut to exactly `n` characters."""
    out: list[str] = []
    size = 0
    while size < n:
        out.append(rng.choice(choices))
        size += len(out[-1])
    return "".join(out)[:n]


@cache
def adversarial(n: int = LONG) -> dict[str, str]:
    """Inputs of `n` characters that make a naive BPE slow or an imitation wrong: long runs
    of one character (one pre-tokenized word each), unspaced CJK, long numbers, base64,
    bytes some vocabs lack, and added tokens amid whitespace."""
    rng = random.Random(n)
    words = [w for line in repo_lines() for w in line.split()]
    return {
        "equals": "=" * n,
        "letter": "a" * n,
        "spaces": " " * n,
        "newlines": "\n" * n,
        "emoji": "🔥" * n,
        "family": "👨‍👩‍👧" * (n // 8),
        "cjk": _cjk(rng, n),
        "cjk-run": "数" * n,
        "digits": "".join(rng.choices("0123456789", k=n)),
        "base64": base64.b64encode(rng.randbytes(n)).decode()[:n],
        "pairs": "ab" * (n // 2),
        "mixed-runs": _filled(rng, ["=" * 7, "-" * 5, "#" * 9, "a" * 6, " " * 3, "=-"], n),
        "whitespace": _filled(rng, [" ", "\t", "\n", "\r\n", "\u3000", "\xa0", "\x1c"], n),
        "contractions": _filled(rng, ["'s", "'ll", "'re", "''", "'", "s"], n),
        "unknown-bytes": _filled(rng, ["\x04", "\x06", "\x13", "\U00040000", "a", " "], n),
        "added-tokens": _filled(
            rng, ["<|im_start|>", "<|im_end|>", MASK, "＜mask＞", SEP, " ", "\t", "\x1c", "x"], n
        ),
        "prose": _filled(rng, [" " + w for w in words], n),
        "mixed": _filled(
            rng,
            [*FRAGMENTS, _cjk(rng, 40), "🔥🙂" * 9, "0123456789" * 4, "  x = f(y)\n", *words],
            n,
        ),
    }


def _training_text() -> Iterator[str]:
    """Repository text plus generated lines, so the merges build long tokens for runs,
    CJK, emoji, digits and code (the shapes the adversarial inputs stress)."""
    rng = random.Random(99)
    fragments = [f for f in FRAGMENTS if f.isprintable()]  # keep bytes like \x04 unseen
    yield from repo_lines()
    yield from fragments
    for _ in range(3000):
        run = rng.choice(["=", "-", "#", "*", " ", "\n", "a", "0", "🔥", "数", "\t"])
        yield run * rng.randint(2, 100)
        yield _cjk(rng, rng.randint(2, 30))
        yield "".join(rng.choices("0123456789", k=rng.randint(1, 20)))
        yield base64.b64encode(rng.randbytes(rng.randint(3, 60))).decode()
        yield " ".join(rng.choices(fragments, k=rng.randint(1, 8)))


def _train(tokenizer: HFTokenizer, full_alphabet: bool) -> dict[str, object]:
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=3500,
        min_frequency=2,
        show_progress=False,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if full_alphabet else [],
    )
    tokenizer.train_from_iterator(_training_text(), trainer)
    spec: dict[str, object] = json.loads(tokenizer.to_str())
    return spec


@cache
def smollm_like() -> str:
    """SmolLM2's configuration: ByteLevel pre-tokenizer without prefix space, no
    normalizer, special tokens 0-2. Like SmolLM2's vocab, it lacks the bytes its training
    text never had (control characters, some UTF-8 lead bytes)."""
    tokenizer = HFTokenizer(BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    return json.dumps(_train(tokenizer, full_alphabet=False))


@cache
def with_options() -> str:
    """Every other option pyapp supports: NFKC, a Digits pre-tokenizer in a Sequence,
    add_prefix_space, added tokens that strip whitespace (one matched in normalized text),
    ignore_merges, and a vocab with all 256 bytes."""
    tokenizer = HFTokenizer(BPE())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
        ]
    )
    spec = _train(tokenizer, full_alphabet=True)
    model = spec["model"]
    assert isinstance(model, dict)
    model["ignore_merges"] = True
    # A token no merge builds, as in vocabs converted from tiktoken.
    ((whole, _),) = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(UNMERGED)
    vocab = model["vocab"]
    assert whole not in vocab, whole
    vocab[whole] = len(vocab)
    trained = HFTokenizer.from_str(json.dumps(spec))
    trained.add_tokens([AddedToken(MASK, lstrip=True, rstrip=True, normalized=True)])
    trained.add_special_tokens([AddedToken(SEP, rstrip=True, normalized=False)])
    return str(trained.to_str())


def comparable(theirs: HFTokenizer, strings: Iterable[str]) -> list[str]:
    """The strings `tokenizers` normalizes as Python's unicodedata does. Its Unicode tables
    are older (to it U+08CF, new in Unicode 14, is a starter, so marks around it are not
    reordered), and pyapp normalizes with the Python it runs on; only where the two agree
    is comparing the tokenizers meaningful."""
    normalizer = theirs.normalizer
    if normalizer is None:
        return list(strings)
    form = type(normalizer).__name__
    return [s for s in strings if normalizer.normalize_str(s) == unicodedata.normalize(form, s)]


def mismatches(
    ours: Tokenizer, theirs: HFTokenizer, strings: Iterable[str]
) -> list[tuple[str, list[int], list[int]]]:
    """The strings on which the ids, or the text decoded with or without special tokens,
    differ between pyapp and `tokenizers`."""
    out = []
    for text in strings:
        ids, expected = ours.encode(text), theirs.encode(text).ids
        same_text = all(
            ours.decode(ids, skip_special_tokens=skip)
            == theirs.decode(expected, skip_special_tokens=skip)
            for skip in (True, False)
        )
        if ids != expected or not same_text:
            out.append((text, ids, expected))
    return out
