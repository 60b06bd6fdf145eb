"""Byte-level BPE read from a Hugging Face `tokenizer.json`, in plain Python.

It must give exactly the ids the `tokenizers` library gives (tests compare thousands of
strings), because the model only understands those. Pyodide has no `regex` module, so the
GPT-2 pre-tokenisation pattern (which needs `\\p{L}`/`\\p{N}`) is a hand-written scanner.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Unicode White_Space, which is what `\s` means in the Rust regex crate.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
CONTRACTIONS_2 = frozenset("stmd")
CONTRACTIONS_3 = frozenset(("re", "ve", "ll"))


class UnsupportedTokenizer(ValueError):
    """The tokenizer.json uses a feature this implementation does not have."""


@lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """'s' whitespace, 'L' letter, 'N' number, 'o' anything else (as GPT-2's regex sees it)."""
    if char in WHITESPACE:
        return "s"
    category = unicodedata.category(char)[0]
    return category if category in "LN" else "o"


def gpt2_split(text: str) -> list[str]:
    r"""Split like `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`."""
    pieces: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "'" and i + 1 < n:
            if text[i + 1 : i + 3] in CONTRACTIONS_3:
                pieces.append(text[i : i + 3])
                i += 3
                continue
            if text[i + 1] in CONTRACTIONS_2:
                pieces.append(text[i : i + 2])
                i += 2
                continue
        kind = _kind(char)
        start = i
        if kind == "s":
            if char == " " and i + 1 < n and _kind(text[i + 1]) != "s":
                kind = _kind(text[i + 1])  # " word", " 123", " !?": the space leads the run
                i += 1
            else:
                end = i
                while end < n and _kind(text[end]) == "s":
                    end += 1
                if end < n and end - i >= 2:
                    end -= 1  # \s+(?!\S): leave the last space to lead the next word
                pieces.append(text[i:end])
                i = end
                continue
        while i < n and _kind(text[i]) == kind:
            i += 1
        pieces.append(text[start:i])
    return pieces


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return {b: chr(b if b in printable else next(extra)) for b in range(256)}


def _split_isolated(text: str, pattern: str) -> list[str]:
    out: list[str] = []
    last = 0
    for match in re.finditer(pattern, text):
        if match.start() > last:
            out.append(text[last : match.start()])
        out.append(match.group())
        last = match.end()
    if last < len(text):
        out.append(text[last:])
    return out


@dataclass(frozen=True)
class AddedToken:
    id: int
    content: str
    special: bool
    lstrip: bool
    rstrip: bool


class Tokenizer:
    def __init__(self, spec: dict[str, object]) -> None:
        model = spec["model"]
        assert isinstance(model, dict)
        if model.get("type") != "BPE" or model.get("byte_fallback"):
            raise UnsupportedTokenizer(f"model type {model.get('type')}: only byte-level BPE")
        self.vocab: dict[str, int] = model["vocab"]
        self.ignore_merges = bool(model.get("ignore_merges"))
        merges = model["merges"]
        self.ranks: dict[tuple[str, str], int] = {
            (tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1))): rank
            for rank, m in enumerate(merges)
        }
        added = spec.get("added_tokens") or []
        assert isinstance(added, list)
        self.added = {
            t["content"]: AddedToken(t["id"], t["content"], t["special"], t["lstrip"], t["rstrip"])
            for t in added
        }
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({t.id: t.content for t in self.added.values()})
        self.special_ids = frozenset(t.id for t in self.added.values() if t.special)
        self._added_re = (
            re.compile("|".join(re.escape(c) for c in sorted(self.added, key=len, reverse=True)))
            if self.added
            else None
        )
        self._normalize = _normalizer(spec.get("normalizer"))
        self._pre = _pre_tokenizer(spec.get("pre_tokenizer"))
        self._b2u = byte_to_unicode()
        self._u2b = {u: b for b, u in self._b2u.items()}
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> Tokenizer:
        """From the JSON text itself, or from a path to tokenizer.json."""
        if isinstance(text_or_path, Path) or not text_or_path.lstrip().startswith("{"):
            text_or_path = Path(text_or_path).read_text(encoding="utf-8")
        return cls(json.loads(text_or_path))

    def token_id(self, token: str) -> int | None:
        added = self.added.get(token)
        return added.id if added else self.vocab.get(token)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk, added in self._split_added(text):
            if added is not None:
                ids.append(added.id)
                continue
            for piece in self._pre(self._normalize(chunk)):
                ids += self._bpe("".join(self._b2u[b] for b in piece.encode("utf-8")))
        return ids

    def _split_added(self, text: str) -> Iterator[tuple[str, AddedToken | None]]:
        """Cut out added tokens (longest first), honouring their lstrip/rstrip flags."""
        if self._added_re is None:
            yield text, None
            return
        last = 0
        for match in self._added_re.finditer(text):
            token = self.added[match.group()]
            before = text[last : match.start()]
            if token.lstrip:
                before = before.rstrip()
            if before:
                yield before, None
            yield "", token
            last = match.end()
            if token.rstrip:
                while last < len(text) and text[last].isspace():
                    last += 1
        if last < len(text):
            yield text[last:], None

    def _bpe(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if self.ignore_merges and word in self.vocab:
            result = [self.vocab[word]]
        else:
            parts = list(word)
            ranks = self.ranks
            while len(parts) > 1:
                best_rank, best_at = None, -1
                for at in range(len(parts) - 1):
                    rank = ranks.get((parts[at], parts[at + 1]))
                    if rank is not None and (best_rank is None or rank < best_rank):
                        best_rank, best_at = rank, at
                if best_rank is None:
                    break
                parts[best_at : best_at + 2] = [parts[best_at] + parts[best_at + 1]]
            result = [self.vocab[p] for p in parts]
        if len(self._cache) < 100_000:
            self._cache[word] = result
        return result

    def token_bytes(self, token_id: int) -> bytes:
        """The exact bytes a token stands for (added tokens as their UTF-8 text)."""
        token: str = self.id_to_token[token_id]
        if token in self.added:
            return token.encode("utf-8")
        return bytes(self._u2b[c] for c in token)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        data = b"".join(
            self.token_bytes(i) for i in ids if not (skip_special_tokens and i in self.special_ids)
        )
        return data.decode("utf-8", errors="replace")


def _normalizer(spec: object) -> Callable[[str], str]:
    if spec is None:
        return lambda text: text
    assert isinstance(spec, dict)
    kind = spec.get("type")
    if kind in ("NFC", "NFD", "NFKC", "NFKD"):
        form = kind
        return lambda text: unicodedata.normalize(form, text)
    if kind == "Sequence":
        steps = [_normalizer(s) for s in spec["normalizers"]]

        def run(text: str) -> str:
            for step in steps:
                text = step(text)
            return text

        return run
    raise UnsupportedTokenizer(f"normalizer {kind} is not supported")


def _pre_tokenizer(spec: object) -> Callable[[str], list[str]]:
    if spec is None:
        return lambda text: [text] if text else []
    assert isinstance(spec, dict)
    kind = spec.get("type")
    if kind == "ByteLevel":
        prefix = bool(spec.get("add_prefix_space"))
        use_regex = spec.get("use_regex", True)

        def byte_level(text: str) -> list[str]:
            if prefix and not text.startswith(" "):
                text = " " + text
            return gpt2_split(text) if use_regex else [text]

        return byte_level
    if kind == "Digits":
        pattern = r"\d" if spec.get("individual_digits") else r"\d+"
        return lambda text: _split_isolated(text, pattern)
    if kind == "Sequence":
        steps = [_pre_tokenizer(s) for s in spec["pretokenizers"]]

        def run(text: str) -> list[str]:
            pieces = [text]
            for step in steps:
                pieces = [out for piece in pieces for out in step(piece)]
            return pieces

        return run
    raise UnsupportedTokenizer(f"pre-tokenizer {kind} is not supported")
