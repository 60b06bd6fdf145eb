"""Auto: which backend answers a message, decided from what would be sent.

Personal data never leaves the browser. The detectors are deterministic, not a model, so
a decision can be explained and tested: email addresses, phone numbers, payment card
numbers (Luhn-valid) and IBANs (mod-97-valid). They read every text that would go to the
server: a follow-up sent to Foundry carries the whole conversation, so one email address
in an earlier turn keeps the rest of that chat in the browser too.

A miss would leak, a false alarm only keeps a message local, so where a format is
ambiguous the detectors lean to "personal": a phone-like number next to a word like
"phone" or "Tel." counts even without a country code. Numbers that are clearly something
else (dates, times, versions, IP addresses, amounts grouped in thousands, plain order
numbers without separators) do not.

Every detector does a bounded amount of work per character, so a megabyte of attached
text is checked in linear time (no regular expression here can backtrack over more than a
few dozen characters).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pyapp.backends import BackendKind


class Reason(StrEnum):
    """Why Auto chose a backend (the message's `data-route-reason`)."""

    PERSONAL_DATA = "personal-data"
    LONG_PROMPT = "long-prompt"
    SHORT_PROMPT = "short-prompt"
    FOUNDRY_DOWN = "foundry-down"


EXPLANATIONS: dict[str, str] = {
    Reason.PERSONAL_DATA: "Answered in this browser: the conversation contains personal data "
    "(an email address, phone number, card number or IBAN), which never leaves this machine.",
    Reason.LONG_PROMPT: "Answered by Foundry Local: the message is longer than the Auto "
    "threshold for the in-browser model (Settings).",
    Reason.SHORT_PROMPT: "Answered in this browser: short messages without personal data "
    "stay here.",
    Reason.FOUNDRY_DOWN: "Answered in this browser: the message is long enough for Foundry "
    "Local, but Foundry Local could not be reached.",
}


LABELS: dict[str, str] = {
    Reason.PERSONAL_DATA: "personal data",
    Reason.LONG_PROMPT: "long message",
    Reason.SHORT_PROMPT: "short message",
    Reason.FOUNDRY_DOWN: "Foundry unreachable",
}


def label(reason: str) -> str | None:
    """The badge's few words for a stored reason (None for one this version does not know:
    an import from a newer Hearth)."""
    return LABELS.get(reason)


def explain(reason: str) -> str | None:
    """The badge's tooltip for a stored reason."""
    return EXPLANATIONS.get(reason)


class Kind(StrEnum):
    EMAIL = "email address"
    PHONE = "phone number"
    CARD = "card number"
    IBAN = "IBAN"


@dataclass(frozen=True)
class Found:
    kind: Kind
    start: int
    end: int


@dataclass(frozen=True)
class Route:
    backend: BackendKind
    reason: Reason
    found: tuple[Kind, ...] = ()  # what personal data was seen, by kind (never the data)


def route(texts: Iterable[str], tokens: int, foundry_reachable: bool, long_tokens: int) -> Route:
    """Where a message goes. `texts`: everything the server would receive (the earlier
    messages, the new one and its attachments); `tokens`: the new message's size as the
    in-page tokenizer counts it; `long_tokens`: the threshold above which it is long."""
    kinds = sorted({f.kind for text in texts for f in personal_data(text)})
    if kinds:
        return Route(BackendKind.BROWSER, Reason.PERSONAL_DATA, tuple(kinds))
    if tokens <= long_tokens:
        return Route(BackendKind.BROWSER, Reason.SHORT_PROMPT)
    if not foundry_reachable:
        return Route(BackendKind.BROWSER, Reason.FOUNDRY_DOWN)
    return Route(BackendKind.FOUNDRY, Reason.LONG_PROMPT)


def personal_data(text: str) -> list[Found]:
    """Every email address, phone number, card number and IBAN in `text`."""
    found = emails(text) + cards(text) + ibans(text)
    taken = [(f.start, f.end) for f in found]
    found += [p for p in phones(text) if not any(a < p.end and p.start < b for a, b in taken)]
    return sorted(found, key=lambda f: f.start)


# --- email addresses -----------------------------------------------------------------------

_LOCAL = re.compile(r"[\w.%+'-]{1,64}$")
_LABEL = r"[^\W_](?:[\w-]{0,62}[^\W_])?"  # a domain label: no leading or trailing - or _
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.[^\W\d_]{{2,24}}")


def emails(text: str) -> list[Found]:
    """`local@domain.tld`, found from each "@" outwards (bounded: at most 64 characters to
    the left and 255 to the right), so a long text without "@" costs one scan."""
    found = []
    for at in _find_all(text, "@"):
        local = _LOCAL.search(text, max(0, at - 64), at)
        domain = _DOMAIN.match(text, at + 1, min(len(text), at + 256))
        if local is None or domain is None:
            continue
        start = local.start() + len(local.group()) - len(local.group().lstrip(".'-"))
        if start < at and text[at - 1] != ".":
            found.append(Found(Kind.EMAIL, start, domain.end()))
    return found


def _find_all(text: str, needle: str) -> Iterable[int]:
    at = text.find(needle)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


# --- card numbers --------------------------------------------------------------------------

# Digit groups joined by single spaces or dashes; each run is consumed once.
# Boundaries are ASCII: in Japanese or Chinese a number sits right against the words.
_DIGIT_RUN = re.compile(r"(?<![A-Za-z0-9_.,])\d+(?:[ -]\d+)*(?![A-Za-z0-9_]|[.,]\d)")


def luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def cards(text: str) -> list[Found]:
    """13–19 digits, written together or in groups of 3 to 6 (4-4-4-4, 4-6-5, …), that
    pass the Luhn check. Within a longer run (a card number then its CVV) every span of
    whole groups is tried."""
    found = []
    for run in _DIGIT_RUN.finditer(text):
        groups = list(re.finditer(r"\d+", run.group()))
        if len(groups) == 1:
            spans = [(0, 1)] if 13 <= len(groups[0].group()) <= 19 else []
        elif all(3 <= len(g.group()) <= 6 for g in groups[:-1]):
            spans = [(i, j) for i in range(len(groups)) for j in range(i + 2, len(groups) + 1)]
        else:
            spans = []
        for i, j in spans:
            digits = "".join(g.group() for g in groups[i:j])
            if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn(digits):
                base = run.start()
                found.append(Found(Kind.CARD, base + groups[i].start(), base + groups[j - 1].end()))
                break
    return found


# --- IBANs ---------------------------------------------------------------------------------

IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27,
    "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})((?: ?[A-Za-z0-9]){10,30})")


def iban_valid(compact: str) -> bool:
    """ISO 13616: the country's length, then mod 97 of the rearranged number is 1."""
    country = compact[:2].upper()
    if IBAN_LENGTHS.get(country) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ibans(text: str) -> list[Found]:
    """An IBAN with or without spaces (in groups of four as printed, or in one piece),
    cut to its country's length, so words after it do not spoil the check."""
    found = []
    for match in _IBAN.finditer(text):
        length = IBAN_LENGTHS.get(match.group(1).upper())
        if length is None:
            continue
        compact, end = "", match.start()
        for end in range(match.start(), match.end()):
            if text[end] != " ":
                compact += text[end]
            if len(compact) == length:
                break
        if len(compact) == length and iban_valid(compact):
            found.append(Found(Kind.IBAN, match.start(), end + 1))
    return found


# --- phone numbers -------------------------------------------------------------------------

# Words that introduce a phone number, in the languages Hearth's users write in most.
_PHONE_WORDS = re.compile(
    r"(?i)(?:phone|tel|call|mobile|cell|fax|whatsapp|sms|text me|ring|t[ée]l[ée]phone|"
    r"portable|appel|tel[eé]fono|m[oó]vil|celular|llama|telefon|handy|anruf|ruf|numero|"
    r"telefono|cellulare|telemóvel|電話|携帯|电话|手机|號碼|号码|전화|휴대폰)"
)
# A candidate: an optional + (or 00), then 7 to 15 digits with the usual separators.
_PHONE = re.compile(
    r"(?<![A-Za-z0-9_+])(?:\+|00)?\(?\d(?:[ .\-()/]{0,2}\d){6,16}\)?(?![A-Za-z0-9_])"
)
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
_THOUSANDS = re.compile(r"\d{1,3}(?:[ .,']\d{3})+")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_VERSION = re.compile(r"\d+(?:\.\d+){2,}")


def phones(text: str) -> list[Found]:
    found = []
    for match in _PHONE.finditer(text):
        if _looks_like_phone(text, match.start(), match.group()):
            found.append(Found(Kind.PHONE, match.start(), match.end()))
    return found


def _looks_like_phone(text: str, start: int, candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15 or len(set(digits)) == 1:
        return False
    bare = candidate.strip("()")
    if _DATE.fullmatch(bare) or _IPV4.fullmatch(bare) or _VERSION.fullmatch(bare):
        return False
    introduced = _PHONE_WORDS.search(text, max(0, start - 24), start) is not None
    if candidate.startswith(("+", "00")):
        return True
    if introduced:
        return True
    if _THOUSANDS.fullmatch(bare):  # 1 000 000, 12.345.678: an amount
        return False
    separated = re.search(r"[ .\-()/]", candidate) is not None
    if "(" in candidate and separated:  # (555) 123-4567
        return True
    if not separated:  # a bare number is an id or an amount, unless national: 0612345678
        return digits.startswith("0") and 9 <= len(digits) <= 11
    groups = re.findall(r"\d+", candidate)
    # 555-123-4567, 06 12 34 56 78, 020 7946 0958: at least three groups, none longer than 4
    # (a date or version was excluded above), or a trunk-prefixed two-group number.
    if len(groups) >= 3 and max(len(g) for g in groups) <= 4:
        return True
    return len(groups) == 2 and groups[0].startswith("0") and len(digits) >= 9
