"""Auto's router (#16): a labelled set of prompts in several languages, with and without
personal data, short and long, must all be routed right; and the detectors' checks (Luhn,
mod-97) hold on random numbers, not just on the examples."""

from __future__ import annotations

import random
import re

import pytest

from pyapp import route as route_module
from pyapp.backends import BackendKind
from pyapp.route import Kind, Reason, iban_valid, luhn, personal_data, route

THRESHOLD = 200
LONG = " ".join(["The committee reviewed the harbour budget line by line."] * 30)

# (prompt, the kinds of personal data in it). Card and IBAN numbers are the issuers' and
# ECBS's published test numbers; phone numbers are from fictional ranges (555, Ofcom's).
LABELLED: list[tuple[str, set[Kind]]] = [
    # English
    ("My email is jane.doe@example.com, write me a haiku", {Kind.EMAIL}),
    ("Reply to j.smith+invoices@mail.example.co.uk about the order", {Kind.EMAIL}),
    ("Call me on +44 20 7946 0958 after six", {Kind.PHONE}),
    ("My number is (555) 123-4567", {Kind.PHONE}),
    ("text 555-123-4567 when you land", {Kind.PHONE}),
    ("Charge 4111 1111 1111 1111, exp 12/29", {Kind.CARD}),
    ("card: 5500-0000-0000-0004 cvv 123", {Kind.CARD}),
    ("Amex 3782 822463 10005 please", {Kind.CARD}),
    ("Send it to GB82 WEST 1234 5698 7654 32 today", {Kind.IBAN}),
    ("```python\nADMIN = 'root@corp.example.org'\n```", {Kind.EMAIL}),
    ("Write a haiku about autumn", set()),
    ("What is 1234 + 5678?", set()),
    ("Explain the release notes for version 3.12.4", set()),
    ("The server is at 192.168.10.254, port 8080", set()),
    ("Meeting on 2024-11-25 at 14:30", set()),
    ("It costs $1,299.99 or 1 000 000 in total", set()),
    ("Tracking order 123456789012 shipped", set()),
    ("Card 4111 1111 1111 1112 is a typo I made", set()),  # fails Luhn
    ("Use @decorator syntax: @app.route('/')", set()),
    ("ISBN 978-3-16-148410-0 is the book", set()),
    ("Summarize: " + LONG, set()),
    ("Summarize: " + LONG + " Contact: ops@harbour.example", {Kind.EMAIL}),
    # French
    ("Mon adresse est marie.curie@exemple.fr, écris un poème", {Kind.EMAIL}),
    ("Appelle-moi au 06 12 34 56 78 demain", {Kind.PHONE}),
    ("Mon IBAN : FR14 2004 1010 0505 0001 3M02 606", {Kind.IBAN}),
    ("Le rendez-vous est le 25/11/2024 à 10h", set()),
    ("Écris une recette de crêpes pour 4 personnes", set()),
    # German
    ("Meine IBAN ist DE89 3704 0044 0532 0130 00", {Kind.IBAN}),
    ("Ruf mich an: +49 30 123456", {Kind.PHONE}),
    ("Schreib eine Mail an max.mustermann@beispiel.de", {Kind.EMAIL}),
    ("Erkläre mir die Relativitätstheorie in drei Sätzen", set()),
    ("Die Version 2.4.1 erschien am 12.03.2024", set()),
    # Spanish
    ("Mi teléfono es 612 345 678, llámame", {Kind.PHONE}),
    ("Mi correo: lucia.garcia@ejemplo.es", {Kind.EMAIL}),
    ("IBAN ES91 2100 0418 4502 0005 1332 para el pago", {Kind.IBAN}),
    ("Hubo 612 345 678 visitas en total", set()),
    ("Escribe un cuento corto sobre el mar", set()),
    # Italian, Dutch
    ("Il mio numero di telefono è 333 123 4567", {Kind.PHONE}),
    ("Mijn rekening is NL91 ABNA 0417 1643 00", {Kind.IBAN}),
    ("Traduci 'buongiorno' in inglese", set()),
    # Japanese, Chinese, Korean
    ("電話番号は090-1234-5678です", {Kind.PHONE}),
    ("メールは taro.yamada@example.jp です", {Kind.EMAIL}),
    ("東京の天気について俳句を書いて", set()),
    ("我的手机号码是 138 0013 8000", {Kind.PHONE}),
    ("请把这段话翻译成英文：今天天气很好。", set()),
    ("2024年11月25日の会議", set()),
    ("제 전화번호는 010-1234-5678 입니다", {Kind.PHONE}),
    # Numbers in code and data
    ("x = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]", set()),
    ("SELECT * FROM orders WHERE id = 4111111111111111", {Kind.CARD}),
    ("uuid 550e8400-e29b-41d4-a716-446655440000", set()),
    ("sha 3f786850e387550fdab836ed7e6dc881de23001b", set()),
    ("pi = 3.14159265358979323846", set()),
    ("National number 0612345678 on the form", {Kind.PHONE}),
]


@pytest.mark.parametrize(("prompt", "kinds"), LABELLED, ids=lambda v: str(v)[:40])
def test_the_labelled_prompts_are_detected_exactly(prompt: str, kinds: set[Kind]) -> None:
    assert {found.kind for found in personal_data(prompt)} == kinds


def test_the_labelled_set_is_broad() -> None:
    assert len(LABELLED) >= 40
    assert sum(1 for _, kinds in LABELLED if kinds) >= 20  # with personal data
    assert sum(1 for _, kinds in LABELLED if not kinds) >= 20  # without


@pytest.mark.parametrize(("prompt", "kinds"), LABELLED, ids=lambda v: str(v)[:40])
def test_the_labelled_prompts_are_routed_right(prompt: str, kinds: set[Kind]) -> None:
    tokens = len(prompt.split())
    decision = route([prompt], tokens, True, THRESHOLD)
    if kinds:
        expected = (BackendKind.BROWSER, Reason.PERSONAL_DATA)
    elif tokens > THRESHOLD:
        expected = (BackendKind.FOUNDRY, Reason.LONG_PROMPT)
    else:
        expected = (BackendKind.BROWSER, Reason.SHORT_PROMPT)
    assert (decision.backend, decision.reason) == expected


def test_personal_data_anywhere_in_what_would_be_sent_keeps_it_here() -> None:
    history = ["My email is jane.doe@example.com", "Noted."]
    attachment = "Invoice\nIBAN DE89370400440532013000\n"
    assert route([*history, LONG], 500, True, THRESHOLD).reason == Reason.PERSONAL_DATA
    assert route([attachment, LONG], 500, True, THRESHOLD).reason == Reason.PERSONAL_DATA
    assert route(["Hello", LONG], 500, True, THRESHOLD).backend == BackendKind.FOUNDRY


def test_a_long_message_stays_here_when_foundry_is_down() -> None:
    decision = route([LONG], 500, False, THRESHOLD)
    assert (decision.backend, decision.reason) == (BackendKind.BROWSER, Reason.FOUNDRY_DOWN)
    assert route([LONG], THRESHOLD, True, THRESHOLD).reason == Reason.SHORT_PROMPT  # not over


def card_number(rng: random.Random, length: int, valid: bool) -> str:
    digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(length - 2)]
    for check in range(10):
        if luhn("".join(map(str, [*digits, check]))) == valid:
            return "".join(map(str, [*digits, check]))
    raise AssertionError("unreachable: one check digit in ten is Luhn-valid")


@pytest.mark.parametrize("seed", range(200))
def test_random_card_numbers_are_found_only_when_luhn_valid(seed: int) -> None:
    rng = random.Random(seed)
    length = rng.choice([13, 15, 16, 19])
    valid = card_number(rng, length, True)
    invalid = card_number(rng, length, False)
    spaced = " ".join(valid[i : i + 4] for i in range(0, len(valid), 4))
    assert [f.kind for f in personal_data(f"pay with {spaced} now")] == [Kind.CARD]
    assert Kind.CARD not in {f.kind for f in personal_data(f"pay with {invalid} now")}


@pytest.mark.parametrize("seed", range(100))
def test_an_iban_with_one_character_changed_is_not_one(seed: int) -> None:
    rng = random.Random(seed)
    good = rng.choice(["GB82WEST12345698765432", "DE89370400440532013000", "NL91ABNA0417164300"])
    assert iban_valid(good)
    at = rng.randrange(4, len(good))
    changed = good[:at] + str((int(good[at], 36) + rng.randint(1, 8)) % 10) + good[at + 1 :]
    assert not iban_valid(changed)
    assert Kind.IBAN not in {f.kind for f in personal_data(f"IBAN {changed}")}


class Recording:
    """A compiled pattern that records how many characters each call may look at."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern, self.windows = pattern, []  # type: ignore[var-annotated]

    def search(self, text: str, start: int, end: int) -> re.Match[str] | None:
        self.windows.append(end - start)
        return self.pattern.search(text, start, end)

    def match(self, text: str, start: int, end: int) -> re.Match[str] | None:
        self.windows.append(end - start)
        return self.pattern.match(text, start, end)


def test_email_search_looks_at_a_bounded_window_around_each_at_sign(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long run of word characters with "@"s in it made the obvious regex quadratic; the
    detector looks at most 64 characters left and 255 right of each "@"."""
    local, domain = Recording(route_module._LOCAL), Recording(route_module._DOMAIN)
    monkeypatch.setattr(route_module, "_LOCAL", local)
    monkeypatch.setattr(route_module, "_DOMAIN", domain)
    text = ("a" * 5000 + "@") * 200 + "b" * 5000
    assert personal_data(text) == []
    assert len(local.windows) == len(domain.windows) == 200
    assert max(local.windows) == 64 and max(domain.windows) == 255
