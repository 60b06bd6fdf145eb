"""Auto's router (#16): which backend answers, and the personal-data detectors behind it.

A labelled set of prompts (with and without personal data, short and long, in nine
languages, with the tricky cases on both sides) must all be detected and routed right;
Luhn and mod-97 hold on random numbers, not only on the examples; and the detectors' work
grows with the text, counted, never timed.

Card numbers and IBANs are issuers' published test numbers and the IBAN registry's
examples (checked below by code independent of the router's); phone numbers come from
ranges reserved for fiction (555, Ofcom's 020 7946 0xxx, 03-1234-5678-style examples).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import pytest

from pyapp import route as route_module
from pyapp.backends import BackendKind
from pyapp.route import Kind, Reason, Route, explain, iban_valid, label, personal_data, route

EMAIL, PHONE, CARD, IBAN = Kind.EMAIL, Kind.PHONE, Kind.CARD, Kind.IBAN
THRESHOLD = 256  # the Auto threshold, in tokens


def tokens(text: str) -> int:
    """A stand-in for the in-page tokenizer's count (the caller counts): a byte-level BPE
    takes about 4 bytes of UTF-8 a token."""
    return len(text.encode()) // 4


EN_LONG = 3 * (
    "The harbour committee met on 2024-11-25 at 14:30 and reviewed the budget line by "
    "line. Dredging came to $1,299,000, up 12.5% on 2023; the crane contract (version "
    "3.2 of the tender) was signed for 48 months. Servers 10.0.0.12 and 192.168.1.20 "
    "were replaced, and the outage on 12/03/2024 lasted from 02:10 to 04:45. Members "
    "asked for a plan with three options, costs per option and a timeline to 2027. "
)
FR_LONG = 4 * (
    "Le conseil municipal s'est réuni le 25/11/2024 à 18h30. Le budget de 2 165 423 € a "
    "été voté, dont 1 200 000 € pour les écoles et 350 000 € pour la voirie. La version "
    "2.4 du plan local d'urbanisme entre en vigueur le 01.01.2025; 12 quartiers sont "
    "concernés et 4 réunions publiques auront lieu avant la fin du mois de mars. "
)
DE_LONG = 4 * (
    "Die Sitzung am 12.03.2024 begann um 9:15 Uhr. Der Haushalt 2025 sieht 1.299.000 € "
    "für den Hafen vor, 8,5 % mehr als im Vorjahr. Version 3.1.4 der Software läuft auf "
    "allen 24 Servern im Netz 10.20.0.0/16; die Umstellung dauerte von 02:00 bis 05:30. "
    "Bitte fasse die Beschlüsse in fünf Punkten zusammen und nenne offene Fragen. "
)
JA_LONG = 6 * (
    "2024年11月25日の港湾委員会では、予算を一行ずつ確認しました。浚渫費は1,299,000円で、"
    "前年より12.5%増えました。クレーン契約はバージョン3.2の入札条件で48か月です。"
    "サーバー10.0.0.12と192.168.1.20を交換し、停止は02:10から04:45まででした。"
    "三つの案とそれぞれの費用、2027年までの日程をまとめてください。"
)

# (language, prompt, the kinds of personal data in it)
LABELLED: list[tuple[str, str, set[Kind]]] = [
    # English: personal data
    ("en", "My email is jane.doe@example.com, write me a haiku", {EMAIL}),
    ("en", "Reply to j.smith+invoices@mail.example.co.uk about the late order", {EMAIL}),
    ("en", "Call me on +44 20 7946 0958 after six", {PHONE}),
    ("en", "My cell is (555) 123-4567, text before calling", {PHONE}),
    ("en", "Ring the front desk: 1-800-555-0199", {PHONE}),
    ("en", "Team numbers: 555.123.4567 and 555-987-6543", {PHONE}),
    ("en", "Charge 4111 1111 1111 1111, expiry 12/29, to the booking", {CARD}),
    ("en", "Amex 3782 822463 10005 please, name as on card", {CARD}),
    ("en", "card: 5555-5555-5555-4444 cvv 123", {CARD}),
    ("en", "Send the refund to GB29 NWBK 6016 1331 9268 19 today", {IBAN}),
    (
        "en",
        "```python\nADMIN_EMAIL = 'ops.lead@harbour-systems.example'\nSMTP_PORT = 587\n```\n"
        "Why does sending fail?",
        {EMAIL},
    ),
    ("en", 'Parse this: {"name": "Ann Lee", "phone": "+15551234567", "vip": true}', {PHONE}),
    ("en", "SELECT * FROM payments WHERE pan = '5500000000000004';", {CARD}),
    ("en", 'stripe: card = "4242424242424242" is declined in prod, why?', {CARD}),
    ("en", "Write to me at jane [at] example [dot] org if the build breaks", {EMAIL}),
    (
        "en",
        "BEGIN:VCARD\nFN:Ann Lee\nTEL;TYPE=cell:+1-555-123-4567\nEND:VCARD\nMake it a CSV row.",
        {PHONE},
    ),
    (
        "en",
        "Bill Ann Lee (ann.lee@example.org, +44 20 7946 0958) to DE89370400440532013000",
        {EMAIL, PHONE, IBAN},
    ),
    ("en", "Summarize:\n" + EN_LONG + "\nQuestions go to ops@harbour.example.", {EMAIL}),
    ("en", "Summarize:\n" + EN_LONG + "\nInvoice to account BE68 5390 0754 7034.", {IBAN}),
    # English: none, including numbers that only look like personal data
    ("en", "Write a haiku about autumn leaves", set()),
    ("en", "What is 1234 * 5678? Show the long multiplication.", set()),
    ("en", "What changed between Python 3.11.4 and 3.12.1?", set()),
    ("en", "Hosts 10.0.0.12 and 192.168.100.254 cannot ping each other; port 8080 is open", set()),
    (
        "en",
        "2024-11-25 14:30:02,117 INFO worker-3 started in 0.734 s\n"
        "2024-11-25 14:30:05,002 WARN retry 2/5 after 1500 ms",
        set(),
    ),
    ("en", "It costs $1,299.99, or £1 050 with the discount", set()),
    ("en", "Where is my parcel? UPS tracking 1Z999AA10123456784", set()),
    ("en", "Order #4839201745 arrived damaged; draft a complaint", set()),
    ("en", "Why is 2^31 - 1 = 2147483647 the largest int32?", set()),
    ("en", "Convert 0x7FFFFFFF and 0xDEADBEEF to decimal", set()),
    (
        "en",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, "
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        set(),
    ),
    ("en", "y = X @ W.T + b  # what shape is y?", set()),
    ("en", "git clone git@github.com:hearth/hearth.git says permission denied", set()),
    ("en", "Cite ISBN 978-3-16-148410-0 in APA style", set()),
    ("en", "Each chapter runs 10000-20000 words; plan an outline", set()),
    ("en", "Card 4111 1111 1111 1112 was declined: is it mistyped?", set()),  # fails Luhn
    ("en", "My IBAN DE89 3704 0044 0532 0130 01 bounced, why?", set()),  # fails mod 97
    ("en", "Snowflake id 1175928471389638656 and 1732521600000 ms: which dates?", set()),
    # Luhn-valid, but ids and timestamps, not in any card issuer's range
    ("en", 'Why is this log line slow? {"id": 1862151234567890128, "ts": 1732521601234}', set()),
    ("en", 'DIGITS = "0123456789"  # like string.digits; what else is in that module?', set()),
    ("en", "The city grew from 1 234 567 to 2 345 678 people", set()),
    ("en", "Solve 3x + 12 = 4x - 7, then check with x = 19", set()),
    ("en", "Paris is at 48.8566, 2.3522; how far is 51.5074, -0.1278?", set()),
    ("en", "Summarize:\n" + EN_LONG, set()),
    # French
    ("fr", "Mon adresse est marie.curie@exemple.fr, écris un poème", {EMAIL}),
    ("fr", "Appelle-moi au 06 12 34 56 78 demain matin", {PHONE}),
    ("fr", "Mon portable : +33 (0)6 12 34 56 78", {PHONE}),
    ("fr", "Virement sur FR14 2004 1010 0505 0001 3M02 606, merci", {IBAN}),
    ("fr", "Écris à jean.dupont (at) exemple (point) fr pour le devis", {EMAIL}),
    ("fr", "Le rendez-vous est le 25/11/2024 à 10h30, salle 12", set()),
    ("fr", "Le 01/12/2024 10 personnes sont venues à la réunion", set()),
    ("fr", "La commune compte 2 165 423 habitants et 1 200 écoles", set()),
    ("fr", "Écris une recette de crêpes pour 4 personnes", set()),
    ("fr", "Résume :\n" + FR_LONG, set()),
    ("fr", "Résume :\n" + FR_LONG + "\nContact : 01 42 68 53 00", {PHONE}),
    # German
    ("de", "Meine IBAN ist DE89 3704 0044 0532 0130 00", {IBAN}),
    ("de", "Ruf mich an: +49 30 123456", {PHONE}),
    ("de", "Büro 030/1234567, Handy 0171 1234567", {PHONE}),
    ("de", "Impressum: info(at)beispiel-gmbh.de", {EMAIL}),
    ("de", "Schreib an jürgen.müller@beispiel.de wegen der Rechnung", {EMAIL}),
    ("de", "Die Rechnung Nr. 2024-0815 über 1.299,00 € ist am 01.12.2024 fällig", set()),
    ("de", "Version 2.4.1 erschien am 12.03.2024, Build 20240312", set()),
    ("de", "Erkläre die Relativitätstheorie in drei Sätzen", set()),
    ("de", "Fasse zusammen:\n" + DE_LONG, set()),
    # Spanish
    ("es", "Mi teléfono es 612 345 678, llámame", {PHONE}),
    ("es", "Mi correo: lucía.garcía@ejemplo.es", {EMAIL}),
    ("es", "IBAN ES91 2100 0418 4502 0005 1332 para el pago", {IBAN}),
    ("es", "Escríbeme a lucia arroba ejemplo punto es", {EMAIL}),
    ("es", "Hubo 612 345 678 visitas en total este año", set()),
    ("es", "Escribe un cuento corto sobre el mar", set()),
    ("es", "La reunión es el 25/11/2024 a las 16:00 en la sala 3", set()),
    # Italian, Dutch, Portuguese
    ("it", "Il mio numero di telefono è 333 123 4567", {PHONE}),
    ("it", "Bonifico su IT60 X054 2811 1010 0000 0123 456", {IBAN}),
    ("nl", "Mijn rekening is NL91ABNA0417164300", {IBAN}),
    ("nl", "Vertaal 'goedemorgen' naar het Engels", set()),
    ("pt", "Meu celular é (11) 91234-5678", {PHONE}),
    # Japanese, Chinese, Korean: numbers right against the words, fullwidth forms
    ("ja", "電話番号は090-1234-5678です", {PHONE}),
    ("ja", "電話番号は０９０－１２３４－５６７８です（全角）", {PHONE}),
    ("ja", "メールは taro.yamada@example.jp です", {EMAIL}),
    ("ja", "メールアドレスはｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐです", {EMAIL}),
    ("ja", "東京の天気について俳句を書いて", set()),
    ("ja", "2024年11月25日の会議の議事録を要約して。価格は1,280円です。", set()),
    ("ja", "要約して:\n" + JA_LONG, set()),
    ("ja", "要約して:\n" + JA_LONG + "\n連絡先: 03-1234-5678", {PHONE}),
    ("zh", "我的手机号码是13800138000，请联系我", {PHONE}),
    ("zh", "请拨打 +86 138 0013 8000 联系客服", {PHONE}),
    ("zh", "请把这段话翻译成英文：今天天气很好。", set()),
    ("zh", "这个版本是3.2.1，发布于2024-11-25。", set()),
    ("ko", "제 전화번호는 010-1234-5678 입니다", {PHONE}),
    ("ko", "이 문장을 영어로 번역해 주세요", set()),
]


def expected_route(prompt: str, kinds: set[Kind]) -> tuple[BackendKind, Reason]:
    if kinds:
        return BackendKind.BROWSER, Reason.PERSONAL_DATA
    if tokens(prompt) > THRESHOLD:
        return BackendKind.FOUNDRY, Reason.LONG_PROMPT
    return BackendKind.BROWSER, Reason.SHORT_PROMPT


def case_id(value: object) -> str:
    return re.sub(r"\s+", " ", str(value))[:40]


@pytest.mark.parametrize(("language", "prompt", "kinds"), LABELLED, ids=case_id)
def test_the_labelled_prompts_are_detected_exactly(
    language: str, prompt: str, kinds: set[Kind]
) -> None:
    assert {found.kind for found in personal_data(prompt)} == kinds


@pytest.mark.parametrize(("language", "prompt", "kinds"), LABELLED, ids=case_id)
def test_the_labelled_prompts_are_routed_and_explained(
    language: str, prompt: str, kinds: set[Kind]
) -> None:
    decision = route([prompt], tokens(prompt), True, THRESHOLD)
    assert (decision.backend, decision.reason) == expected_route(prompt, kinds)
    assert set(decision.found) == kinds
    for kind in kinds:  # the tooltip names what was found …
        assert kind.label in decision.explanation
    for found in personal_data(prompt):  # … and never the data itself
        assert prompt[found.start : found.end] not in decision.explanation


def test_the_labelled_set_is_broad_and_its_numbers_are_real() -> None:
    assert len(LABELLED) >= 60
    assert len({language for language, _, _ in LABELLED}) >= 5
    routes = [expected_route(prompt, kinds) for _, prompt, kinds in LABELLED]
    assert sum(1 for _, _, kinds in LABELLED if kinds) >= 30
    assert sum(1 for _, _, kinds in LABELLED if not kinds) >= 30
    assert routes.count((BackendKind.FOUNDRY, Reason.LONG_PROMPT)) >= 4
    long_private = [p for _, p, kinds in LABELLED if kinds and tokens(p) > THRESHOLD]
    assert len(long_private) >= 3
    # The cards and IBANs in the set pass checks written independently of the router's.
    found = [(f.kind, p[f.start : f.end]) for _, p, _ in LABELLED for f in personal_data(p)]
    for kind, text in found:
        compact = re.sub(r"[ \-]", "", text)
        if kind == CARD:
            assert reference_luhn(compact), text
        if kind == IBAN:
            assert reference_mod97(compact), text


def reference_luhn(digits: str) -> bool:
    doubled = [int(d) * 2 if i % 2 else int(d) for i, d in enumerate(reversed(digits))]
    return sum(n // 10 + n % 10 for n in doubled) % 10 == 0


def reference_mod97(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    return int("".join(str(ord(c) - 55) if c.isalpha() else c for c in moved.upper())) % 97 == 1


def test_the_spans_are_the_data_in_the_original_text() -> None:
    text = "Mail ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ or call (555) 123-4567. IBAN: NL91ABNA0417164300!"
    assert [(f.kind, text[f.start : f.end]) for f in personal_data(text)] == [
        (EMAIL, "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ"),
        (PHONE, "(555) 123-4567"),
        (IBAN, "NL91ABNA0417164300"),
    ]


# --- what is read: the whole conversation ------------------------------------------------

LONG_QUESTION = "Summarize the notes above in five bullet points. " + EN_LONG


def test_personal_data_in_an_earlier_turn_keeps_the_follow_up_here() -> None:
    """A follow-up sent to Foundry would carry the whole conversation."""
    history = ["My email is jane.doe@example.com, remember it.", "Noted, Jane."]
    decision = route([*history, LONG_QUESTION], tokens(LONG_QUESTION), True, THRESHOLD)
    assert (decision.backend, decision.reason, decision.found) == (
        BackendKind.BROWSER,
        Reason.PERSONAL_DATA,
        (EMAIL,),
    )
    clean = ["What is a haiku?", "A three-line poem of 5, 7 and 5 syllables."]
    decision = route([*clean, LONG_QUESTION], tokens(LONG_QUESTION), True, THRESHOLD)
    assert decision.backend == BackendKind.FOUNDRY


def test_personal_data_echoed_in_a_reply_counts_too() -> None:
    history = ["What is the format of a UK number?", "For example +44 20 7946 0958."]
    decision = route([*history, LONG_QUESTION], tokens(LONG_QUESTION), True, THRESHOLD)
    assert (decision.reason, decision.found) == (Reason.PERSONAL_DATA, (PHONE,))


def test_personal_data_in_an_attachment_or_the_system_prompt_counts() -> None:
    attachment = "Attached file: invoice.txt\n```\nPay to DE89 3704 0044 0532 0130 00\n```"
    system = "You help Ann Lee (ann.lee@example.org) with her mail."
    for texts in ([attachment, "Summarize the file."], [system, "Summarize the file."]):
        assert route(texts, 10, True, THRESHOLD).reason == Reason.PERSONAL_DATA
    assert route(["Summarize the file."], 10, True, THRESHOLD).reason == Reason.SHORT_PROMPT


def test_the_rules_apply_in_order() -> None:
    private, plain = "Mail ann@example.org", "Hello"
    assert route([private], 10_000, True, THRESHOLD).reason == Reason.PERSONAL_DATA
    assert route([plain], THRESHOLD + 1, True, THRESHOLD) == Route(
        BackendKind.FOUNDRY, Reason.LONG_PROMPT
    )
    assert route([plain], THRESHOLD, True, THRESHOLD).reason == Reason.SHORT_PROMPT  # not over
    down = route([plain], THRESHOLD + 1, False, THRESHOLD)
    assert (down.backend, down.reason) == (BackendKind.BROWSER, Reason.FOUNDRY_DOWN)
    assert "foundry service start" in down.explanation
    assert route([plain], 5, False, THRESHOLD).reason == Reason.SHORT_PROMPT


def test_the_badge_texts() -> None:
    decision = route(["ann@example.org, 4111 1111 1111 1111"], 10, True, THRESHOLD)
    assert decision.explanation == (
        "Answered in this browser: the conversation contains an email address and a card "
        "number, and Auto keeps personal data here."
    )
    # A saved message keeps only its reason: the tooltip then names no kind.
    assert explain("personal-data") == explain(Reason.PERSONAL_DATA, ())
    assert "email address" in (explain("personal-data") or "")
    assert label("long-prompt") == "long message"
    assert label("from-a-newer-hearth") is None and explain("from-a-newer-hearth") is None


# --- card numbers and IBANs on random numbers -----------------------------------------

ISSUERS = [  # (first digits, lengths) of real card ranges
    ("4", (13, 16, 19)),
    ("51", (16,)),
    ("55", (16,)),
    ("2221", (16,)),
    ("2720", (16,)),
    ("34", (15,)),
    ("37", (15,)),
    ("6011", (16, 19)),
    ("65", (16,)),
    ("3528", (16,)),
    ("36", (14,)),
    ("62", (16, 19)),
    ("2200", (16,)),
]


def card_number(rng: random.Random, valid: bool) -> str:
    prefix, lengths = rng.choice(ISSUERS)
    length = rng.choice(lengths)
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    check = next(d for d in "0123456789" if reference_luhn(body + d))
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return body + check


def printed(number: str, rng: random.Random) -> str:
    """As people write it: in one piece, or grouped as cards are printed."""
    sep = rng.choice(["", " ", "-"])
    if len(number) in (14, 15) and rng.random() < 0.5:
        cuts = [0, 4, 10, len(number)]  # Amex 4-6-5, Diners 4-6-4
    else:
        cuts = [*range(0, len(number), 4), len(number)]
    return sep.join(number[a:b] for a, b in zip(cuts, cuts[1:], strict=False))


@pytest.mark.parametrize("seed", range(300))
def test_a_random_card_number_is_found_exactly_when_luhn_valid(seed: int) -> None:
    rng = random.Random(seed)
    valid = printed(card_number(rng, True), rng)
    assert [(f.kind, f"Pay with {valid} today."[f.start : f.end]) for f in find(valid)] == [
        (CARD, valid)
    ]
    invalid = printed(card_number(rng, False), rng)
    assert find(invalid) == []


def find(number: str) -> list[Any]:
    return personal_data(f"Pay with {number} today.")


IBAN_FORMATS = {  # country: (length, letters at the start of the BBAN)
    "DE": (22, 0),
    "FR": (27, 0),
    "ES": (24, 0),
    "IT": (27, 1),
    "BE": (16, 0),
    "CH": (21, 0),
    "AT": (20, 0),
    "PL": (28, 0),
    "NO": (15, 0),
    "GB": (22, 4),
    "NL": (18, 4),
}


def iban(rng: random.Random, letters: bool) -> str:
    country = rng.choice([c for c, (_, n) in IBAN_FORMATS.items() if bool(n) == letters])
    length, alpha = IBAN_FORMATS[country]
    bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(alpha))
    bban += "".join(rng.choice("0123456789") for _ in range(length - 4 - alpha))
    check = (
        98
        - int("".join(str(ord(c) - 55) if c.isalpha() else c for c in bban + country + "00")) % 97
    )
    return f"{country}{check:02d}{bban}"


def grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


@pytest.mark.parametrize("seed", range(100))
def test_a_random_iban_is_found_and_any_digit_changed_is_not(seed: int) -> None:
    rng = random.Random(seed)
    letters = seed % 2 == 0
    good = iban(rng, letters)
    assert reference_mod97(good) and iban_valid(good)
    for written in (good, grouped(good)):
        assert [f.kind for f in personal_data(f"IBAN: {written}.")] == [IBAN]
    for at in [i for i, c in enumerate(good) if c.isdigit()]:
        changed = good[:at] + str((int(good[at]) + rng.randint(1, 9)) % 10) + good[at + 1 :]
        assert not iban_valid(changed)
        for written in (changed, grouped(changed)):
            found = personal_data(f"IBAN: {written}.")
            assert IBAN not in {f.kind for f in found}
            if not letters:  # nor do its digit groups pass for a card or phone number
                assert found == [], written


def test_an_iban_of_the_wrong_length_for_its_country_is_not_one() -> None:
    """Mod 97 alone passes one number in 97: the country's length is the other check."""
    rng = random.Random(7)
    for country, length in (("DE", 24), ("NL", 16), ("FR", 22)):
        bban = "".join(rng.choice("0123456789") for _ in range(length - 4))
        digits = "".join(str(ord(c) - 55) if c.isalpha() else c for c in bban + country + "00")
        number = f"{country}{98 - int(digits) % 97:02d}{bban}"
        assert reference_mod97(number) and not iban_valid(number)
        assert personal_data(f"IBAN {number} please") == []


# --- linear work ----------------------------------------------------------------------


class Recording:
    """A compiled pattern that records how many characters each call may look at."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.windows: list[int] = []

    def match(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        end = len(text) if endpos is None else min(endpos, len(text))
        self.windows.append(end - pos)
        return self.pattern.match(text, pos, end)


def test_email_detection_reads_a_bounded_window_around_each_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Long runs of address characters with "@", " at " or "[at]" in them made the
    obvious patterns quadratic; each anchor is read within fixed windows instead."""
    patterns = ["_LOCAL_REVERSED", "_DOMAIN", "_DOMAIN_OBFUSCATED", "_DOMAIN_SPELLED"]
    recorders = {name: Recording(getattr(route_module, name)) for name in patterns}
    for name, recorder in recorders.items():
        monkeypatch.setattr(route_module, name, recorder)
    text = (
        ("a" * 5000 + "@") * 20
        + ("b." * 3000 + "@" + "c-" * 3000 + " ") * 20
        + ("x at " * 2000 + "y [at] " + "z." * 2000) * 5
        + "done: ann@example.org"
    )
    anchors = text.count("@") + text.count(" at ") + text.count("[at]")
    assert [f.kind for f in personal_data(text)] == [EMAIL]
    local, *domains = recorders.values()
    assert max(local.windows) <= 64
    assert max(w for r in domains for w in r.windows) <= 320
    assert sum(len(r.windows) for r in domains) <= anchors
    assert len(local.windows) <= 2 * anchors


ROWS: dict[str, tuple[str, int]] = {  # a row of numbers, and the phone numbers in it
    "binary matrix": ("0 1 " * 20_000, 0),
    "dashed pairs": ("1-1 " * 20_000, 0),
    "decimals": ("0.125 " * 20_000, 0),
    "years": ("2019 " * 20_000, 0),
    "area codes": ("(12) " * 20_000, 0),
    "zeros": ("00 " * 20_000, 0),
    "phone list": ("555-123-4567 " * 5_000, 5_000),
    "national list": ("0612345678 " * 5_000, 5_000),
}


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_number_rules_look_at_most_once_per_digit_group(
    row: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every card or phone rule looks at windows of a run; a long row of numbers (a data
    file, a matrix, a phone list) must not cost a window per group and length, neither
    built nor weighed."""
    text, phones = ROWS[row]
    built = count_calls(monkeypatch, route_module._Run, "window")
    weighed = count_calls(monkeypatch, route_module._Run, "apart")
    found = personal_data(text)
    assert [f.kind for f in found] == [PHONE] * phones
    groups = len(re.findall(r"[0-9]+", text))
    assert built() <= groups
    assert weighed() <= groups


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> Callable[[], int]:
    original = getattr(owner, name)
    calls = [0]

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return original(*args)

    monkeypatch.setattr(owner, name, counted)
    return lambda: calls[0]


def test_a_one_megabyte_attachment_is_read_whole() -> None:
    """A realistic document (minutes, logs, data, code) with a few pieces of personal
    data far apart: all of them found, nothing else."""
    filler = (
        EN_LONG
        + "2024-11-25 14:30:02,117 INFO worker-3 started in 0.734 s, retry 2/5\n"
        + "x = [0.125, 2.5, 1e-3]; y = X @ W.T + b  # shapes (128, 64) @ (64, 10)\n"
        + "1990 2000 2010 2020 | 1 234 567 | 0 1 0 1 1 0 | 10.0.0.1 10.0.0.2\n"
    )
    planted = ["ann@example.org", "+44 20 7946 0958", "4111 1111 1111 1111"]
    parts = [filler * 300, planted[0], filler * 300, planted[1], filler * 300, planted[2]]
    text = " ".join(parts)
    assert len(text) > 1_000_000
    found = personal_data(text)
    assert [text[f.start : f.end] for f in found] == planted
    assert [f.kind for f in found] == [EMAIL, PHONE, CARD]
