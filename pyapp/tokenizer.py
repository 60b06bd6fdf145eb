"""Byte-level BPE read from a Hugging Face `tokenizer.json`, in plain Python.

It must give exactly the ids the `tokenizers` library gives (tests compare thousands of
strings), because the model only understands those. Pyodide has no `regex` module, so the
GPT-2 pre-tokenisation pattern (which needs `\\p{L}`/`\\p{N}`) is a hand-written scanner.

Merging follows `tokenizers`' own `Word::merge_all`: a heap of candidate pairs over a
linked list of symbols, so a word of n bytes costs O(n log n) rather than the O(n²) of
rescanning it for the best pair after every merge. A pasted 30,000-character run of `=` or
of unspaced CJK then takes a fraction of a second instead of minutes of a blocked worker.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from heapq import heapify, heappop, heappush
from itertools import chain, groupby, pairwise
from pathlib import Path

# Unicode White_Space, which is what `\s` means in the Rust regex crate.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
CONTRACTIONS_2 = frozenset("stmd")
CONTRACTIONS_3 = frozenset(("re", "ve", "ll"))
# The word cache is bounded like `tokenizers`' own: enough words for a long chat, which is
# re-tokenized every turn, and never the rare long word (a 30,000-character paste).
CACHE_WORDS = 10_000
CACHE_WORD_LENGTH = 256


class UnsupportedTokenizer(ValueError):
    """The tokenizer.json uses a feature this implementation does not have."""


class TokenLimitExceeded(ValueError):
    """The text needs more than `limit` tokens. `counted` (always above `limit`) is how many
    it was sure of when it stopped, so a caller can say "more than" without the rest."""

    def __init__(self, counted: int, limit: int) -> None:
        self.counted, self.limit = counted, limit
        super().__init__(
            f"The text needs more than {limit} tokens (stopped counting at {counted}); shorten it."
        )


@lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """'s' whitespace, 'L' letter, 'N' number, 'o' anything else (as GPT-2's regex sees it)."""
    if char in WHITESPACE:
        return "s"
    category = unicodedata.category(char)[0]
    return category if category in "LN" else "o"


def gpt2_split(text: str) -> Iterator[str]:
    r"""Split like `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.

    Lazily, so that `encode(text, limit)` never scans past the part of the text it needs.
    """
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "'" and i + 1 < n:
            if text[i + 1 : i + 3] in CONTRACTIONS_3:
                yield text[i : i + 3]
                i += 3
                continue
            if text[i + 1] in CONTRACTIONS_2:
                yield text[i : i + 2]
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
                yield text[i:end]
                i = end
                continue
        while i < n and _kind(text[i]) == kind:
            i += 1
        yield text[start:i]


def split_digits(text: str, individual: bool) -> Iterator[str]:
    """The `Digits` pre-tokenizer: numbers apart from the rest, each digit alone if
    `individual`. A number is any Unicode N* character (Rust's `char::is_numeric`), so `½`
    and `Ⅻ` count, which Python's `\\d` would miss."""
    for numeric, run in groupby(text, key=lambda char: _kind(char) == "N"):
        if numeric and individual:
            yield from run
        else:
            yield "".join(run)


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return {b: chr(b if b in printable else next(extra)) for b in range(256)}


@dataclass(frozen=True)
class AddedToken:
    id: int
    content: str
    special: bool
    lstrip: bool
    rstrip: bool
    normalized: bool


class AddedTokenSplitter:
    """Cuts added tokens out of text as `tokenizers` does: leftmost-longest matches (its
    Aho-Corasick matcher; a regex alternation tried longest first), each taking the
    whitespace its lstrip/rstrip flags ask for."""

    def __init__(self, tokens: dict[str, AddedToken]) -> None:
        self.tokens = tokens
        longest_first = sorted(tokens, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first))) if tokens else None

    def split(self, text: str) -> Iterator[str | AddedToken]:
        """The text between tokens (never empty) and the tokens, in order."""
        if self._pattern is None:
            if text:
                yield text
            return
        last = 0
        for match in self._pattern.finditer(text):
            token = self.tokens[match.group()]
            start, stop = match.span()
            while token.lstrip and start > last and text[start - 1] in WHITESPACE:
                start -= 1
            while token.rstrip and stop < len(text) and text[stop] in WHITESPACE:
                stop += 1
            if start > last:
                yield text[last:start]
            yield token
            last = stop
        if last < len(text):
            yield text[last:]


class Tokenizer:
    def __init__(self, spec: dict[str, object]) -> None:
        model = spec["model"]
        assert isinstance(model, dict)
        _check_model(model)
        self.vocab: dict[str, int] = model["vocab"]
        self.ignore_merges = bool(model.get("ignore_merges"))
        self._pair_shift = max(self.vocab.values(), default=0).bit_length()
        self._ranks, self._merged = self._merge_table(model["merges"])
        self._longest = max(map(len, self.vocab), default=1)  # in bytes: one char per byte
        b2u = byte_to_unicode()
        self._byte_ids = [self.vocab.get(b2u[b], -1) for b in range(256)]
        # Bytes the vocab lacks are dropped, as `tokenizers` does without an unk token.
        self._unknown_bytes = bytes(b for b in range(256) if self._byte_ids[b] < 0)
        if self._unknown_bytes and model.get("unk_token") is not None:
            raise UnsupportedTokenizer(
                "this tokenizer maps bytes outside its vocab to an unknown token, which is "
                "not supported; use a model whose vocab covers every byte"
            )
        self._byte_chars = str.maketrans(b2u)  # latin-1 text of the bytes -> byte-level text
        self._u2b = {u: b for b, u in b2u.items()}

        added = spec.get("added_tokens") or []
        assert isinstance(added, list)
        self.added = {
            t["content"]: AddedToken(
                t["id"],
                t["content"],
                t["special"],
                t["lstrip"],
                t["rstrip"],
                t.get("normalized", not t["special"]),
            )
            for t in added
            if t["content"]
        }
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({t.id: t.content for t in self.added.values()})
        self.special_ids = frozenset(t.id for t in self.added.values() if t.special)
        self._normalize = _normalizer(spec.get("normalizer"))
        self._pre = _pre_tokenizer(spec.get("pre_tokenizer"))
        # As `tokenizers`: tokens marked `normalized` are found in the normalized text.
        self._raw_added = AddedTokenSplitter(
            {c: t for c, t in self.added.items() if not t.normalized}
        )
        self._normalized_added = AddedTokenSplitter(
            {self._normalize(c): t for c, t in self.added.items() if t.normalized}
        )
        self._cache: dict[str, list[int]] = {}
        # Adjacent pairs looked up in the merge table, the unit of BPE work: rescanning a
        # word for its best pair after every merge looks up O(n²) pairs, the heap at most
        # 6n (n bytes), with at most one O(log n) push and one pop per look-up. Tests bound it.
        self.pairs_examined = 0

    def _merge_table(self, merges: list[str | list[str]]) -> tuple[dict[int, int], list[int]]:
        """Each merge's rank keyed by its pair of ids packed into one int (cheaper to hash
        than a tuple), and the id each rank merges into."""
        ranks: dict[int, int] = {}
        merged: list[int] = []
        for rank, merge in enumerate(merges):
            left, right = merge if isinstance(merge, list) else merge.split(" ", 1)
            try:
                ranks[self.vocab[left] << self._pair_shift | self.vocab[right]] = rank
                merged.append(self.vocab[left + right])
            except KeyError as missing:
                raise UnsupportedTokenizer(
                    f"the merge {left!r} {right!r} needs {missing}, which is not in the vocab: "
                    "tokenizer.json is damaged; rebuild the model"
                ) from None
        return ranks, merged

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> Tokenizer:
        """From the JSON text itself, or from a path to tokenizer.json."""
        if isinstance(text_or_path, Path) or not text_or_path.lstrip().startswith("{"):
            text_or_path = Path(text_or_path).read_text(encoding="utf-8")
        return cls(json.loads(text_or_path))

    def token_id(self, token: str) -> int | None:
        added = self.added.get(token)
        return added.id if added else self.vocab.get(token)

    def encode(self, text: str, limit: int | None = None) -> list[int]:
        """The ids `tokenizers` gives `text` (no BOS/EOS are added).

        With `limit`, raise TokenLimitExceeded as soon as the ids are sure to number more
        than `limit`. The text is split lazily and a word too long to fit is never merged,
        so refusing a huge paste costs about what tokenizing the part that fits costs.
        """
        ids: list[int] = []
        for piece in self._pieces(text):
            if isinstance(piece, AddedToken):
                ids.append(piece.id)
            else:
                ids += self._word_ids(piece, len(ids), limit)
            if limit is not None and len(ids) > limit:
                raise TokenLimitExceeded(len(ids), limit)
        return ids

    def _pieces(self, text: str) -> Iterator[str | AddedToken]:
        """Added tokens and pre-tokenized words, lazily and in order, as `tokenizers` finds
        them: unnormalized added tokens in the raw text, the rest in the normalized text."""
        for part in self._raw_added.split(text):
            if isinstance(part, AddedToken):
                yield part
                continue
            for inner in self._normalized_added.split(self._normalize(part)):
                if isinstance(inner, AddedToken):
                    yield inner
                else:
                    yield from self._pre(inner)

    def _word_ids(self, word: str, counted: int, limit: int | None) -> list[int]:
        """`word`'s ids, cached while the word is short. With `limit`, raise rather than
        merge a word whose length alone shows that `counted` plus its ids exceed `limit`."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        data = word.encode("utf-8")
        known = data.translate(None, self._unknown_bytes)
        fewest = counted - (-len(known) // self._longest)
        if limit is not None and fewest > limit:
            raise TokenLimitExceeded(fewest, limit)
        whole = None
        if self.ignore_merges:
            whole = self.vocab.get(data.decode("latin-1").translate(self._byte_chars))
        if whole is not None:
            ids = [whole]
        else:
            ids = self._merge(list(map(self._byte_ids.__getitem__, known)))
        if len(word) < CACHE_WORD_LENGTH:
            if len(self._cache) >= CACHE_WORDS:
                self._cache.clear()
            self._cache[word] = ids
        return ids

    def _merge(self, symbols: list[int]) -> list[int]:
        """Apply the merges to one word's byte ids, lowest rank first and, among equal
        ranks, leftmost first: exactly `tokenizers`' `Word::merge_all`.

        The heap holds candidate pairs as `rank << bits | position` ints (cheap to compare);
        a symbol merged into its left neighbour is marked -1 and unlinked. Entries made
        stale by a neighbour's merge stay in the heap and are skipped when popped: a pair
        whose rank has changed is no longer the pair that was pushed.
        """
        n = len(symbols)
        ranks, merged, shift = self._ranks, self._merged, self._pair_shift
        bits = n.bit_length()
        mask = (1 << bits) - 1
        candidates = map(ranks.get, [a << shift | b for a, b in pairwise(symbols)])
        heap = [rank << bits | at for at, rank in enumerate(candidates) if rank is not None]
        heapify(heap)
        after = list(range(1, n + 1))
        before = list(range(-1, n - 1))
        examined = max(n - 1, 0)
        while heap:
            key = heappop(heap)
            at = key & mask
            left, right_at = symbols[at], after[at]
            if left < 0 or right_at == n:
                continue  # merged away, or now the last symbol
            examined += 1
            rank = key >> bits
            if ranks.get(left << shift | symbols[right_at]) != rank:
                continue  # stale: one side has merged with something else since
            new = symbols[at] = merged[rank]
            symbols[right_at] = -1
            next_at = after[at] = after[right_at]
            if next_at < n:
                before[next_at] = at
                examined += 1
                rank_after = ranks.get(new << shift | symbols[next_at])
                if rank_after is not None:
                    heappush(heap, rank_after << bits | at)
            prev_at = before[at]
            if prev_at >= 0:
                examined += 1
                rank_before = ranks.get(symbols[prev_at] << shift | new)
                if rank_before is not None:
                    heappush(heap, rank_before << bits | prev_at)
        self.pairs_examined += examined
        return [s for s in symbols if s >= 0]

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


def _check_model(model: dict[str, object]) -> None:
    """Refuse what would silently give other ids than `tokenizers` does."""
    kind = model.get("type")
    if kind != "BPE" or model.get("byte_fallback"):
        raise UnsupportedTokenizer(
            f"model type {kind} (byte fallback: {bool(model.get('byte_fallback'))}) is not "
            "supported: Hearth runs byte-level BPE tokenizers only; pick a model that uses one"
        )
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise UnsupportedTokenizer(
            "BPE with a subword prefix or end-of-word suffix is not supported; "
            "pick a model with a byte-level BPE tokenizer"
        )
    if model.get("dropout"):
        raise UnsupportedTokenizer(
            "BPE dropout makes tokenization random; set dropout to null in tokenizer.json"
        )


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


def _pre_tokenizer(spec: object) -> Callable[[str], Iterator[str]]:
    """The pre-tokenizer as a lazy splitter; each step splits every piece of the one before,
    and every piece it is given is non-empty, as `tokenizers` drops empty splits."""
    if spec is None:
        return lambda text: iter((text,))
    assert isinstance(spec, dict)
    kind = spec.get("type")
    if kind == "ByteLevel":
        prefix = bool(spec.get("add_prefix_space"))
        use_regex = spec.get("use_regex", True)

        def byte_level(text: str) -> Iterator[str]:
            if prefix and not text.startswith(" "):
                text = " " + text
            return gpt2_split(text) if use_regex else iter((text,))

        return byte_level
    if kind == "Digits":
        individual = bool(spec.get("individual_digits"))
        return lambda text: split_digits(text, individual)
    if kind == "Sequence":
        steps = [_pre_tokenizer(s) for s in spec["pretokenizers"]]

        def run(text: str) -> Iterator[str]:
            pieces: Iterator[str] = iter((text,))
            for step in steps:
                pieces = chain.from_iterable(map(step, pieces))
            return pieces

        return run
    raise UnsupportedTokenizer(f"pre-tokenizer {kind} is not supported")
