"""Auto: which backend answers a message, decided from everything that would be sent.

Rules, in order: any personal data in the conversation keeps the reply in this browser;
a message over the token threshold goes to Foundry when Foundry answers, and stays here
(saying so) when it does not; everything else stays here. A follow-up sent to Foundry
carries the whole conversation, so `route()` reads every text that would be sent (earlier
turns of both roles, attachments, the new message): one email address in an earlier turn
keeps the rest of that chat in the browser.

Personal data is found by deterministic detectors, not a model, so each decision can be
explained and tested: email addresses, phone numbers, payment card numbers (Luhn) and
IBANs (mod 97). A miss sends personal data to a server, while a false alarm only keeps a
message local, so where a format is ambiguous the detectors lean to "personal". Numbers
that are clearly something else stay out: dates, times, versions, IP addresses, amounts
grouped in thousands, ranges, counting sequences, hex, and bare numbers nobody calls a
phone number (`order 4839201745`, `#4839201745`, `INT_MAX = 2147483647`). A number that is
written like a phone number (international prefix, area code in parentheses, dashed
groups, a leading trunk 0) is one whatever word stands before it.

Every detector does a bounded amount of work per character, so a megabyte of attached
text is one pass: emails are read outwards from each "@" (or "[at]") within fixed
windows; numbers are runs of digit groups that a possessive pattern consumes once, then
rules look at windows of at most eight groups; nothing can backtrack over more than a
few dozen characters.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import accumulate, pairwise
from typing import NamedTuple

from pyapp.backends import BackendKind


class Reason(StrEnum):
    """Why Auto chose a backend (the message's `data-route-reason`)."""

    PERSONAL_DATA = "personal-data"
    LONG_PROMPT = "long-prompt"
    SHORT_PROMPT = "short-prompt"
    FOUNDRY_DOWN = "foundry-down"


class Kind(StrEnum):
    """A kind of personal data the router looks for."""

    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    IBAN = "iban"

    @property
    def label(self) -> str:
        """As a sentence names it: "an email address"."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    Kind.EMAIL: "an email address",
    Kind.PHONE: "a phone number",
    Kind.CARD: "a card number",
    Kind.IBAN: "an IBAN",
}

LABELS: dict[str, str] = {
    Reason.PERSONAL_DATA: "personal data",
    Reason.LONG_PROMPT: "long message",
    Reason.SHORT_PROMPT: "short message",
    Reason.FOUNDRY_DOWN: "Foundry unreachable",
}
_EXPLANATIONS: dict[str, str] = {
    Reason.PERSONAL_DATA: "Answered in this browser: the conversation contains personal data "
    "(an email address, phone number, card number or IBAN), and Auto keeps that here.",
    Reason.LONG_PROMPT: "Answered by Foundry Local: the message is longer than the Auto "
    "threshold for the in-browser model (Settings).",
    Reason.SHORT_PROMPT: "Answered in this browser: short messages without personal data "
    "stay here.",
    Reason.FOUNDRY_DOWN: "Answered in this browser: the message is long enough for Foundry "
    "Local, but Foundry Local could not be reached. Start it with “foundry service start”.",
}


def label(reason: str) -> str | None:
    """The badge's few words for a stored reason (None for one this version does not know:
    an import from a newer Hearth)."""
    return LABELS.get(reason)


def explain(reason: str, found: Iterable[Kind] = ()) -> str | None:
    """The badge's tooltip for a reason: it names the kinds of personal data `found`
    ("… contains an email address and a phone number …"), never the data itself."""
    seen = set(found)
    kinds = [kind.label for kind in Kind if kind in seen]
    if reason == Reason.PERSONAL_DATA and kinds:
        listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
        return (
            f"Answered in this browser: the conversation contains {listed}, "
            "and Auto keeps personal data here."
        )
    return _EXPLANATIONS.get(reason)


@dataclass(frozen=True)
class Found:
    """One piece of personal data: its kind and where it is (`text[start:end]`)."""

    kind: Kind
    start: int
    end: int


@dataclass(frozen=True)
class Route:
    """Auto's decision for one message: who answers, and why."""

    backend: BackendKind
    reason: Reason
    found: tuple[Kind, ...] = ()  # the kinds of personal data seen (never the data)

    @property
    def explanation(self) -> str:
        """One line for the badge's tooltip."""
        return explain(self.reason, self.found) or ""


def route(texts: Iterable[str], tokens: int, foundry_reachable: bool, long_tokens: int) -> Route:
    """Where a message goes.

    `texts`: every text the server would receive: the system prompt, the earlier messages
    of both roles with their attachments, and the new message with its attachments (a
    server gets the whole conversation, so personal data anywhere in it counts).
    `tokens`: the new message's size as the in-page tokenizer counts it; over
    `long_tokens` it is long.
    """
    seen = {found.kind for text in texts for found in personal_data(text)}
    if seen:
        return Route(BackendKind.BROWSER, Reason.PERSONAL_DATA, tuple(k for k in Kind if k in seen))
    if tokens <= long_tokens:
        return Route(BackendKind.BROWSER, Reason.SHORT_PROMPT)
    if not foundry_reachable:
        return Route(BackendKind.BROWSER, Reason.FOUNDRY_DOWN)
    return Route(BackendKind.FOUNDRY, Reason.LONG_PROMPT)


def personal_data(text: str) -> list[Found]:
    """Every email address, phone number, card number and IBAN in `text`, in order."""
    text = text.translate(_ASCII)
    ibans = _ibans(text)
    found = ibans + _emails(text) + _outside(ibans, _numbers(text))
    return sorted(found, key=lambda f: f.start)


def _outside(taken: list[Found], found: list[Found]) -> list[Found]:
    """`found` without what overlaps `taken` (sorted, disjoint): the digits of an IBAN are
    not also a phone number."""
    ends = [f.end for f in taken]
    kept = []
    for f in found:
        at = bisect_left(ends, f.start + 1)  # the first taken span ending after f starts
        if at == len(taken) or taken[at].start >= f.end:
            kept.append(f)
    return kept


# --- characters ----------------------------------------------------------------------------

# What people type for the ASCII characters of addresses and numbers (fullwidth forms in
# Japanese and Chinese, no-break spaces in French, other digit scripts), mapped one to one,
# so a span in the mapped text is the same span in the original.
_ASCII = {
    **{code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)},  # fullwidth ！ … ～
    **{space: 0x20 for space in (0x3000, 0x00A0, 0x2007, 0x2009, 0x202F)},
    **{dash: 0x2D for dash in (0x2010, 0x2011)},
    **{zero + d: 0x30 + d for zero in (0x0660, 0x06F0, 0x0966) for d in range(10)},
}
# Scripts written without spaces between words (Thai, kana, CJK, Hangul, halfwidth
# forms): their letters count as boundaries, as spaces do in other scripts, since
# "電話番号は090-1234-5678です" puts the number right against the words.
_SPACELESS = (
    r"\u0e00-\u0e7f\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
)
_WORD = rf"[^\W{_SPACELESS}]"  # a letter, digit or _ of a script that uses spaces
_WORD_CHAR = re.compile(_WORD)
_LETTER = rf"[^\W\d_{_SPACELESS}]"


# --- email addresses -----------------------------------------------------------------------

# Where an address turns from its local part to its domain: "@", "[at]" or "(at)" (also
# in French and Spanish), or a spelled " at ". Not "@" with spaces around it: that is
# Python's matrix product (`x @ self.weight`).
_AT = re.compile(
    r"@|[\[({<][ \t]{0,2}(?i:at|@|arobase|arroba)[ \t]{0,2}[\])}>]"
    r"|[ \t](?i:at|arobase|arroba)[ \t]"
)
# The local part, matched backwards from the "@" (on the reversed text before it).
_LOCAL_REVERSED = re.compile(rf"(?:{_WORD}|[.%+'\-]){{1,64}}")
_HOST_LABEL = rf"{_WORD}(?:{_WORD}|-){{0,62}}"
_TLD = rf"(?:{_LETTER}{{2,63}}|xn--[a-z0-9\-]{{1,59}})(?!{_WORD}|-)"
_DOT_SPELLED = (
    r"(?:[ \t]{0,2}[\[({<][ \t]{0,2}(?i:dot|point|punkt|punto|\.)[ \t]{0,2}[\])}>][ \t]{0,2}"
    r"|[ \t]{1,2}(?i:dot|point|punkt|punto)[ \t]{1,2})"
)
_DOT = rf"(?:\.|{_DOT_SPELLED})"
# Common top-level domains: a spelled "at … dot …" counts only when it ends in one, as
# "look at this dot product" is English, not an address.
_COMMON_TLD = (
    r"(?i:com|net|org|edu|gov|io|co|uk|us|ca|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|pt|ie"
    rf"|jp|cn|kr|in|br|mx|ar|au|nz|ru|eu|info|biz|me|dev|app|ai)(?!{_WORD}|-)"
)
_DOMAIN = re.compile(rf"(?:{_HOST_LABEL}\.){{1,10}}{_TLD}")
_DOMAIN_OBFUSCATED = re.compile(rf"(?:{_HOST_LABEL}{_DOT}){{1,10}}{_TLD}")
_DOMAIN_SPELLED = re.compile(
    rf"(?:{_HOST_LABEL}{_DOT}){{0,9}}{_HOST_LABEL}{_DOT_SPELLED}{_COMMON_TLD}"
)
_LOCAL_WINDOW, _DOMAIN_WINDOW = 64, 320  # characters examined either side of an "@"


def _emails(text: str) -> list[Found]:
    """Read from each "@" (or "[at]" …) outwards, within fixed windows.

    `git@host` is left out: it is the SSH account every user of a Git host shares
    (`git clone git@github.com:org/repo.git`), not anyone's address.
    """
    found: list[Found] = []
    for at in _AT.finditer(text):
        start, end = at.span()
        if not _LOCAL_REVERSED.match(text[start - 1 : start]) and at.group() == "@":
            continue  # the common case in a long text: nothing before the "@"
        written = at.group().strip(" \t")
        if written == "@":
            domain = _DOMAIN
        else:
            start, end = _spaced(text, start, -1), _spaced(text, end, 1)
            domain = _DOMAIN_OBFUSCATED if written[0] in "[({<" else _DOMAIN_SPELLED
        before = text[max(0, start - _LOCAL_WINDOW) : start][::-1]
        local = _LOCAL_REVERSED.match(before)
        name = local.group()[::-1].lstrip(".%+'-") if local else ""
        if not name or (written == "@" and name.lower() == "git"):
            continue
        if found and start - len(name) < found[-1].end:
            continue  # an "@" inside the address just found
        host = domain.match(text, end, end + _DOMAIN_WINDOW)
        if host is not None:
            found.append(Found(Kind.EMAIL, start - len(name), host.end()))
    return found


def _spaced(text: str, at: int, step: int) -> int:
    """`at` moved over up to two spaces or tabs (backwards when `step` is -1): the room
    around "[at]" or "at" that belongs to neither part of the address."""
    for _ in range(2):
        near = at if step > 0 else at - 1
        if near < 0 or text[near : near + 1] not in (" ", "\t"):
            break
        at += step
    return at


# --- IBANs ---------------------------------------------------------------------------------

# ISO 13616 lengths by country (SWIFT's IBAN registry), plus the territories that use
# their own code with their country's format.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    "AX": 18, "GG": 22, "IM": 22, "JE": 22, "BL": 27, "GF": 27, "GP": 27, "MF": 27, "MQ": 27,
    "NC": 27, "PF": 27, "PM": 27, "RE": 27, "TF": 27, "WF": 27, "YT": 27,
}  # fmt: skip
# Country, check digits, then up to 30 letters or digits, single spaces or dashes between.
_IBAN = re.compile(rf"(?<!{_WORD})[A-Za-z]{{2}}[0-9]{{2}}(?:[ \-]?[A-Za-z0-9]){{11,30}}+")


def iban_valid(compact: str) -> bool:
    """ISO 13616: the country's length, then mod 97 of the rearranged number is 1."""
    compact = compact.upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    if not compact.isascii() or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ibans(text: str) -> list[Found]:
    """An IBAN in one piece or in groups, cut to its country's length, so what follows it
    ("… 00 is mine") does not spoil the check; it must end where a word ends."""
    found = []
    for match in _IBAN.finditer(text):
        length = IBAN_LENGTHS.get(match.group()[:2].upper())
        if length is None:
            continue
        chars = [i for i in range(match.start(), match.end()) if text[i] not in " -"]
        if len(chars) < length:
            continue
        end = chars[length - 1] + 1
        if _WORD_CHAR.match(text, end) is None and iban_valid(
            "".join(text[i] for i in chars[:length])
        ):
            found.append(Found(Kind.IBAN, match.start(), end))
    return found


# --- numbers: card and phone numbers -------------------------------------------------------

# A run of digit groups joined by the separators numbers are written with, with an
# optional "+" or "(" before: either dots only (555.123.4567, 06.12.34.56.78), or
# spaces, dashes, slashes and parentheses ((555) 123-4567). A dotted number never joins
# its neighbours, so a row of decimals, versions or IP addresses ("0.12 0.57 1.3") is
# many short numbers, not one long run. It is consumed once (possessive, no lookarounds:
# it never backtracks, and a failed start costs one character); whether it stands on
# its own is checked after, in `_runs`. Anything else ends a run: "12345 - 67890" and
# "1. 2. 3." are separate numbers.
_NUMBER = re.compile(
    r"(?:\+\(?|\(\+?)?[0-9]++"
    r"(?:(?:\.[0-9]++)++|(?:(?:[ \-/]|\)[ \-]?| ?\()[0-9]++)*+)\)?"
)
_DIGITS = re.compile(r"[0-9]+")
# Where a run would start or end inside something else: a word, a negative number, a
# path, a price, a reference (#12), or more digits (1,234 or 3.14 or 12:30).
_GLUED_BEFORE = re.compile(rf"{_WORD}\Z|[+\-.,/#$€£¥@()]\Z|[0-9)][./:,\-]\Z")
_GLUED_AFTER = re.compile(rf"{_WORD}|@|[,:][0-9]")
_MAX_GROUPS = 8  # a phone number has at most this many groups (+33 (0)6 12 34 56 78: 7)
_LONGEST = 19  # digits in a group: a card number at most


class _Window(NamedTuple):
    """Consecutive digit groups of one run, as the card and phone rules see them (a tuple:
    a phone list builds one per number)."""

    groups: tuple[str, ...]
    seps: tuple[str, ...]  # between the groups
    before: str  # "+", "(", "+(", "(+" or ""
    after: str  # ")" or ""
    start: int
    end: int
    digits: str

    def wrapped(self, k: int) -> bool:
        """Group `k` is in parentheses: (555) 123-4567."""
        tokens = (self.before, *self.seps, self.after)
        return "(" in tokens[k] and tokens[k + 1].startswith(")")

    def balanced(self) -> bool:
        """Every parenthesis wraps exactly one group."""
        tokens = (self.before, *self.seps, self.after)
        return all(
            ("(" in tokens[k]) == tokens[k + 1].startswith(")") for k in range(len(self.groups))
        )


class _Run:
    """The digit groups of one number run: their spans, lengths and separators, and
    running digit counts, so that a window's shape and size are known before it is built."""

    def __init__(self, text: str, spans: list[tuple[int, int]]) -> None:
        self.text, self.spans = text, spans
        self.lengths = [end - start for start, end in spans]
        self.seps = [text[a[1] : b[0]] for a, b in pairwise(spans)]  # seps[k]: after group k
        self.counts = [0, *accumulate(self.lengths)]

    def __len__(self) -> int:
        return len(self.spans)

    def size(self, i: int, j: int) -> int:
        """Digits in groups `i` to `j - 1`."""
        return self.counts[j] - self.counts[i]

    def apart(self, i: int, j: int) -> bool:
        """Groups `i` to `j - 1` are written apart from the rest of the run. A part of a
        longer run is taken only where the way of writing changes ("2024-11-25
        555-123-4567", "4111 1111 1111 1111 12/26", "0612345678 0698765432"), never out of
        one uniform row: "5159 0281 0548 0622" is not a phone number after "5159", and
        "2019 2020 2021 2022 2023" holds no card number."""
        inner = set(self.seps[i : j - 1])
        short = inner <= {" "} and min(self.lengths[i:j]) <= 6  # short groups, spaced
        for joined, beyond in (
            (self.seps[i - 1] if i > 0 else None, i - 2),  # to the group before, and its own
            (self.seps[j - 1] if j < len(self) else None, j),  # to the group after, and its own
        ):
            if joined is None:
                continue
            if joined != " " and joined in inner:  # 555-123-4567-89: the dashes go on
                return False
            alone = not 0 <= beyond < len(self.seps) or self.seps[beyond] == " "
            if joined == " " and short and alone:  # 5159 0281 0548 0622: one row
                return False
        return True

    def window(self, i: int, j: int) -> _Window:
        """Groups `i` to `j - 1`, with the "+" or parentheses around them. A "(" that does
        not close after the first group (or a ")" that does not open before the last) is
        punctuation around the number, not part of it: "(555-123-4567)"."""
        text = self.text
        start, end = self.spans[i][0], self.spans[j - 1][1]
        ahead = text[max(0, start - 2) : start]
        before = ahead if ahead in ("+(", "(+") else ahead[-1:] if ahead[-1:] in ("+", "(") else ""
        seps = tuple(self.seps[i : j - 1])
        after = ")" if text.startswith(")", end) else ""
        if "(" in before and not (seps[0] if seps else after).startswith(")"):
            before = before.replace("(", "")
        if after and "(" not in (seps[-1] if seps else before):
            after = ""
        if j - i == 1:  # "(4111111111111111)": parentheses around one number are punctuation
            before, after = before.replace("(", ""), ""
        groups = tuple(text[a:b] for a, b in self.spans[i:j])
        start, end = start - len(before), end + len(after)
        return _Window(groups, seps, before, after, start, end, "".join(groups))


def _runs(text: str) -> Iterator[_Run]:
    """Each number run long enough to hold a phone number. A run that starts or ends
    against a word, an "@" or more of a number ("12:30", "1,5", "-3", "#12") is none; a
    group too long for any card or phone number splits it."""
    for match in _NUMBER.finditer(text):
        start, end = match.span()
        if end - start < 7:  # fewer than 7 digits: the common case, decided at once
            continue
        if _GLUED_BEFORE.search(text, max(0, start - 2), start) or _GLUED_AFTER.match(text, end):
            continue  # "DE89 3704 0044 …" too: the run starts at the 89 of the IBAN
        spans = [group.span() for group in _DIGITS.finditer(text, start, end)]
        while any(b - a > _LONGEST for a, b in spans):
            cut = next(k for k, (a, b) in enumerate(spans) if b - a > _LONGEST)
            yield _Run(text, spans[:cut])
            spans = spans[cut + 1 :]
        yield _Run(text, spans)


def _numbers(text: str) -> list[Found]:
    """Card numbers first, then phone numbers among the groups left over. A whole run may
    match any phone rule; a part of a longer run ("2024-11-25 555-123-4567") only the
    strong ones, so a list of numbers does not yield phone numbers by accident."""
    found = []
    for run in _runs(text):
        if run.size(0, len(run)) < 7:  # too short for a phone number, let alone a card
            continue
        edges = [0]
        for i, j in _cards(run):
            found.append(Found(Kind.CARD, run.spans[i][0], run.spans[j - 1][1]))
            edges += [i, j]
        edges.append(len(run))
        for lo, hi in zip(edges[::2], edges[1::2], strict=True):
            found += [Found(Kind.PHONE, w.start, w.end) for w in _phones(run, lo, hi)]
    return found


def _cards(run: _Run) -> Iterator[tuple[int, int]]:
    """Card numbers in a run (as group ranges), left to right, longest first."""
    lengths, taken = run.lengths, 0
    starts = [  # 13–19 digits in one, or 4 then 4 or 6 (4-4-4-4, Amex 4-6-5)
        k
        for k, n in enumerate(lengths)
        if 13 <= n <= 19 or (n == 4 and k + 1 < len(lengths) and lengths[k + 1] in (4, 6))
    ]
    for i in starts:
        if i < taken:  # inside the card just found
            continue
        for j in _card_ends(run, i):
            if _is_card(run.window(i, j)):
                yield i, j
                taken = j
                break


def _card_ends(run: _Run, i: int) -> Iterator[int]:
    """Where a card number starting at group `i` can end, longest first: 13–19 digits in
    one piece, or grouped as cards are printed (4-4-4-4, 4-4-4-4-3, Amex 4-6-5, Diners
    4-6-4) with one kind of separator, a space or a dash."""
    lengths = run.lengths
    if 13 <= lengths[i] <= 19:
        yield i + 1
    if lengths[i] != 4:
        return
    if i > 0 and lengths[i - 1] == 4 and run.seps[i - 1] == run.seps[i]:
        return  # the row of four-digit groups began earlier
    for j in range(min(len(run), i + 5), i + 1, -1):
        shape, seps = lengths[i:j], run.seps[i : j - 1]
        fours = all(n == 4 for n in shape[:-1]) and shape[-1] <= 4
        if (
            (fours or shape in ([4, 6, 5], [4, 6, 4]))
            and 13 <= run.size(i, j) <= 19
            and seps[0] in (" ", "-")
            and seps.count(seps[0]) == len(seps)
            and run.apart(i, j)
        ):
            yield j


def luhn(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812) that every payment card number passes: a typo in
    one digit never does."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _issued(digits: str) -> bool:
    """Starts like a payment card: 3 (Amex, Diners, JCB), 4 (Visa), 5 (Mastercard,
    Maestro), 6 (Discover, UnionPay, Maestro, RuPay), 2200–2204 (Mir), 2221–2720
    (Mastercard), 81 (UnionPay), 9792 (Troy), or a 15-digit 1 (UATP). Other 13–19 digit
    numbers are ids and timestamps (1732521600000, snowflake ids), not cards."""
    first4 = int(digits[:4])
    return (
        digits[0] in "3456"
        or 2200 <= first4 <= 2204
        or 2221 <= first4 <= 2720
        or digits.startswith(("81", "9792"))
        or (digits[0] == "1" and len(digits) == 15)
    )


def _is_card(w: _Window) -> bool:
    """A number shaped like a card (`_card_ends`), not in parentheses or after a "+",
    from a card issuer's range, Luhn-valid."""
    return not (w.before or w.after) and _issued(w.digits) and luhn(w.digits)


def _phones(run: _Run, lo: int, hi: int) -> Iterator[_Window]:
    """Phone numbers among groups `lo` to `hi - 1`: the whole run if it is one, else
    parts of it between spaces, left to right, longest first (strong rules only)."""
    if (lo, hi) == (0, len(run)) and hi <= _MAX_GROUPS:
        whole = run.window(lo, hi)
        if _is_phone(whole, run.text, whole=True):
            yield whole
            return
    seps, taken = run.seps, lo
    for i in _phone_starts(run, lo, hi):
        if i < taken:  # inside the phone number just found
            continue
        a = run.spans[i][0]
        international = "+" in run.text[max(0, a - 2) : a]
        for j in range(min(hi, i + _MAX_GROUPS), i, -1):
            if not 7 <= run.size(i, j) <= 17 or (j < hi and " " not in seps[j - 1]):
                continue
            if not (international or run.apart(i, j)):
                continue
            w = run.window(i, j)
            if _is_phone(w, run.text, whole=False):
                yield w
                taken = j
                break


def _phone_starts(run: _Run, lo: int, hi: int) -> list[int]:
    """The groups after a space where a strong phone rule can start, by a cheap test on
    their first digits, so that a long row of plain numbers costs no window per group:
    after "+" or "(", at a trunk 0 or an international 00, at the 1 of a Chinese mobile
    number, or at 1 or 3 digits that a dash, slash or parenthesis continues (555-123-4567,
    1-800-555-0199, 1 (555) 123-4567)."""
    text, spans, lengths, seps = run.text, run.spans, run.lengths, run.seps
    return [
        k
        for k in range(lo, hi)
        if (k == lo or " " in seps[k - 1])
        and (
            text[spans[k][0] - 1 : spans[k][0]] in ("+", "(")
            or (lengths[k] >= 2 and text[spans[k][0]] == "0" and _after_zero(run, k, hi))
            or (lengths[k] in (3, 11) and text[spans[k][0]] == "1")
            or (lengths[k] in (1, 3) and k + 1 < hi and seps[k] != " ")
        )
    ]


def _after_zero(run: _Run, k: int, hi: int) -> bool:
    """Group `k` (two digits or more) starts with 0: an international 00 followed by a
    country code (0044 …, 00 33 …), or a trunk 0 followed by a non-zero digit (06, 020)."""
    a, b = run.spans[k]
    digits = run.text[a : min(b, a + 3)]
    if k + 1 < hi and len(digits) < 3:
        c, d = run.spans[k + 1]
        digits += run.text[c : min(d, c + 3 - len(digits))]
    if digits.startswith("00"):
        return k + 1 < hi and digits[2:3] not in ("", "0")
    return digits[1] != "0"


def _is_phone(w: _Window, text: str, whole: bool) -> bool:
    """The phone rules. Strong ones (a match anywhere in a run): an international prefix,
    an area code in parentheses, a trunk 0, a North American number with dashes or dots,
    a Chinese mobile number. Weak ones (only a run by itself): North American or other
    10–11 digit numbers grouped by spaces, 9-digit Spanish/Portuguese numbers, and any
    number that a word like "phone", "Tel." or "電話" introduces."""
    digits = w.digits
    if not 7 <= len(digits) <= 17 or not w.balanced() or _has_date(w) or _counting(w.groups):
        return False
    national = _international(w)
    if national is not None:
        return 8 <= len(national) <= 15 and national[0] != "0"
    if len(digits) > 15:
        return False
    if _area_code(w):
        return 9 <= len(digits) <= 12
    if digits[0] == "0":
        return _trunk(w)
    if _north_american(w):
        return whole or w.seps[0] != " "
    if _chinese_mobile(w):
        return True
    if not whole or not set(w.seps) <= {" ", "-"}:
        return False
    return _grouped(w) or _iberian(w) or _introduced(text, w)


def _international(w: _Window) -> str | None:
    """The number after its international prefix ("+" or "00"), without a "(0)" trunk;
    None when it has none."""
    groups = list(w.groups)
    if "+" not in w.before:
        if len(groups) < 2 or not groups[0].startswith("00"):
            return None
        groups[0] = groups[0][2:]
    return "".join(g for k, g in enumerate(groups) if not (g == "0" and w.wrapped(k)))


def _area_code(w: _Window) -> bool:
    """(555) 123-4567, (030) 123 456 78, 1 (555) 123-4567, 8 (495) 123-45-67."""
    first = 1 if len(w.groups) > 2 and len(w.groups[0]) == 1 else 0
    return w.wrapped(first) and 2 <= len(w.groups[first]) <= 5 and len(w.groups) > first + 1


def _trunk(w: _Window) -> bool:
    """A national number with its trunk 0: 020 7946 0958, 06 12 34 56 78, 030/1234567,
    03-1234-5678, 0612345678. Dots only as the French write them: 06.12.34.56.78."""
    digits = w.digits
    if digits[1] == "0" or not 9 <= len(digits) <= 12:
        return False
    if any("." in sep for sep in w.seps):
        return len(w.groups[0]) <= 4 and all(len(g) == 2 for g in w.groups[1:])
    return True


def _north_american(w: _Window) -> bool:
    """555-123-4567, 555.123.4567, 1-800-555-0199, 555 123 4567. Any digits: the shape is
    the signal, and people write numbers the real plan would not issue (555-123-4567)."""
    lengths = [len(g) for g in w.groups]
    if lengths != [3, 3, 4] and not (lengths == [1, 3, 3, 4] and w.groups[0] == "1"):
        return False
    return len(set(w.seps)) == 1 and w.seps[0] in (" ", "-", ".")


def _chinese_mobile(w: _Window) -> bool:
    """13800138000, 138 0013 8000, 138-0013-8000."""
    lengths = [len(g) for g in w.groups]
    return (
        re.fullmatch(r"1[3-9][0-9]{9}", w.digits) is not None
        and lengths in ([11], [3, 4, 4])
        and len(set(w.seps)) <= 1
        and set(w.seps) <= {" ", "-"}
    )


def _grouped(w: _Window) -> bool:
    """10–11 digits in groups of two or more (98765 43210, 333 123 4567), not an amount
    grouped in thousands (1 234 567 890), a row of small numbers, or a round number; two
    groups only with a space (10000-20000 is a range)."""
    lengths = [len(g) for g in w.groups]
    return (
        10 <= len(w.digits) <= 11
        and len(lengths) >= 2
        and min(lengths) >= 2
        and len(set(w.seps)) == 1
        and (len(lengths) > 2 or w.seps[0] == " ")
        and not (lengths[0] <= 3 and all(n == 3 for n in lengths[1:]))
        and not (len(lengths) >= 4 and max(lengths) <= 2)
        and w.digits[lengths[0] :].strip("0") != ""
    )


def _iberian(w: _Window) -> bool:
    """Spain and Portugal: 612 34 56 78, 91 123 45 67 (9 digits from 6–9, in pairs at the
    end, as amounts never are). 612 345 678 is also how Spanish writes 612 million, so it
    counts only next to a word like "teléfono" (`_introduced`)."""
    lengths = [len(g) for g in w.groups]
    return (
        w.digits[0] in "6789"
        and lengths in ([3, 2, 2, 2], [2, 3, 2, 2])
        and len(set(w.seps)) == 1
        and w.digits[3:].strip("0") != ""
    )


# Words that introduce a phone number, and words that introduce some other number.
# "number" alone is too common ("Numbers 1234567 and 3.14"), so only as "my number".
_PHONE_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:tel|tél|tlf|phone|mobil|móvil|movil|portable|cell|call|sms|whatsapp"
    r"|fax|handy|llam|appel|anruf|contact|kontakt"
    r"|(?:my|your|his|her|our|their)(?: [a-z]+)? number|(?:mon|ton|son|votre) numéro"
    r"|(?:mi|tu|su) número|(?:meine|deine|seine|ihre) nummer|rufnummer)"
    r"|電話|携帯|手机|电话|号码|號碼|전화|연락|휴대"
)
_OTHER_NUMBER_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:order|invoice|tracking|ticket|ref|sku|isbn|commande|facture|suivi"
    r"|bestell|rechnung|sendung|pedido|factura|seguimiento)|注文|订单|單號|单号|追跡|伝票"
)
_CONTEXT = 40  # characters either side of a number where such a word counts


def _introduced(text: str, w: _Window) -> bool:
    """A plain 7–12 digit number next to a word like "phone", "Tel." or "電話", unless a
    word like "order" or "invoice" comes first: "Tlf. 12 34 56 78", "call 5551234567",
    but not "order number 4839201745"."""
    before = text[max(0, w.start - _CONTEXT) : w.start]
    after = text[w.end : w.end + _CONTEXT]
    lengths = [len(g) for g in w.groups]
    amount = len(lengths) > 1 and lengths[0] < 3 and all(n == 3 for n in lengths[1:])
    return (
        7 <= len(w.digits) <= 12
        and not amount  # 1 234 567: an amount, whatever the sentence says
        and _OTHER_NUMBER_WORDS.search(before) is None
        and (_PHONE_WORDS.search(before) or _PHONE_WORDS.search(after)) is not None
    )


def _has_date(w: _Window) -> bool:
    """Three groups joined by the same "-", "/" or "." that read as a date: 2024-11-25,
    25/11/2024, 11/25/2024, 25.11.2024."""
    for k in range(len(w.groups) - 2):
        a, b, c = w.groups[k : k + 3]
        if w.seps[k] != w.seps[k + 1] or w.seps[k] not in ("-", "/", "."):
            continue
        if len(a) == 4 and len(b) <= 2 and len(c) <= 2 and _day_month(int(c), int(b)):
            return True
        if len(c) == 4 and len(a) <= 2 and len(b) <= 2:
            if _day_month(int(a), int(b)) or _day_month(int(b), int(a)):
                return True
    return False


def _day_month(day: int, month: int) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12


_ASCENDING = "0123456789" * 2


def _counting(groups: tuple[str, ...]) -> bool:
    """01 02 03 04 05, 0123456789, 1234567: a sequence (or a placeholder), not a number."""
    if len(groups) >= 3 and int(groups[1]) == int(groups[0]) + 1:
        return all(int(b) == int(a) + 1 for a, b in pairwise(groups))
    return "".join(groups) in _ASCENDING
