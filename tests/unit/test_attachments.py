"""Attached files become text (#16): every supported kind, the encodings a text file
arrives in, real PDFs (one written byte by byte, and damaged, protected and image-only
ones), the limits, and a prompt layout that a file's own text cannot break out of."""

from __future__ import annotations

import io
import random
import re

import pytest
from pypdf import PdfWriter

from pyapp.attachments import (
    MAX_BYTES,
    AttachmentError,
    FileKind,
    extract,
    fence,
    prompt_text,
)
from tests.support.pdf import text_pdf


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("notes.txt", FileKind.TEXT),
        ("README.MD", FileKind.MARKDOWN),
        ("main.py", FileKind.CODE),
        ("App.TSX", FileKind.CODE),
        ("Dockerfile", FileKind.CODE),
        ("data.csv", FileKind.CSV),
        ("rows.jsonl", FileKind.JSON),
    ],
)
def test_each_text_kind_is_read_as_it_is(name: str, kind: FileKind) -> None:
    body = '{"a": 1}\n{"b": 2}\n' if name.endswith("jsonl") else "x = 1\r\ny = 2\n"
    file = extract(name, body.encode())
    assert (file.name, file.kind) == (name, kind)
    assert file.text == body.replace("\r\n", "\n")


@pytest.mark.parametrize(
    "data",
    [
        "Grüße, 東京 🔥".encode(),
        b"\xef\xbb\xbf" + "Grüße, 東京 🔥".encode(),  # UTF-8 with a BOM
        "Grüße, 東京 🔥".encode("utf-16"),  # with its BOM
    ],
)
def test_utf8_and_utf16_text_decode_exactly(data: bytes) -> None:
    assert extract("a.txt", data).text == "Grüße, 東京 🔥"


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("photo.png", b"\x89PNG", "cannot be attached"),
        ("a.txt", b"abc\x00def", "not a text file"),
        ("latin.txt", "café".encode("cp1252"), "not UTF-8"),
        ("bad.json", b'{"a": }', "not valid JSON"),
        ("rows.jsonl", b'{"a": 1}\n{oops\n', "line 2"),
        ("damaged.pdf", text_pdf([["Hello"]])[:200], "could not be read as a PDF"),
        ("random.pdf", bytes(random.Random(1).randrange(256) for _ in range(3000)), "PDF"),
    ],
)
def test_unreadable_files_get_one_sentence_that_names_them(
    name: str, data: bytes, words: str
) -> None:
    with pytest.raises(AttachmentError, match=words) as raised:
        extract(name, data)
    assert str(raised.value).startswith(name)


def test_a_pdfs_pages_are_extracted_in_order() -> None:
    file = extract("report.pdf", text_pdf([["Quarterly report", "Sales rose."], ["Costs fell."]]))
    assert file.kind == FileKind.PDF
    assert file.text == "Page 1\nQuarterly report\nSales rose.\n\nPage 2\nCosts fell."


def test_a_pdf_without_text_or_with_a_password_says_what_to_do() -> None:
    blank = PdfWriter()
    blank.add_blank_page(612, 792)
    out = io.BytesIO()
    blank.write(out)
    with pytest.raises(AttachmentError, match="no text layer"):
        extract("scan.pdf", out.getvalue())
    locked = PdfWriter(clone_from=io.BytesIO(text_pdf([["Secret"]])))
    locked.encrypt(user_password="hunter2", algorithm="RC4-128")
    out = io.BytesIO()
    locked.write(out)
    with pytest.raises(AttachmentError, match="password"):
        extract("locked.pdf", out.getvalue())


def test_a_pdf_protected_only_against_editing_opens() -> None:
    owner_only = PdfWriter(clone_from=io.BytesIO(text_pdf([["Open to read"]])))
    owner_only.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    owner_only.write(out)
    assert "Open to read" in extract("ro.pdf", out.getvalue()).text


def test_a_file_over_the_size_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(AttachmentError, match="MB"):
        extract("huge.txt", b"\x00" * (MAX_BYTES + 1))  # binary: reading it would fail too


@pytest.mark.parametrize("seed", range(50))
def test_a_files_text_cannot_close_its_own_block(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(["`", "``", "```", "````", "a", "\n", " "]) for _ in range(60))
    mark = fence(text)
    prompt = prompt_text([extract("tricky.md", text.encode())], "What is in it?")
    body = prompt.split("\n", 2)[2]  # after "Attached file: …" and the opening fence
    closing = [m.start() for m in re.finditer(f"^{mark}$", body, re.MULTILINE)]
    assert closing and body[: closing[0]] == text + "\n"  # the first closing fence is ours
    assert prompt.endswith("What is in it?")
