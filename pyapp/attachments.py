"""Files in the chat: an attached file's bytes become text, and that text goes into the
message the same way for every backend.

Plain Python that runs in the page too: text files are decoded here, and PDFs are read
with pypdf (vendored like the other wheels; the page loads it the first time a PDF is
attached, then calls `extract`). Every refusal is one `AttachmentError` that names the
file and says what to do.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import accumulate
from pathlib import PurePosixPath
from typing import Protocol

from pyapp.errors import HearthError

MAX_BYTES = 20 << 20  # a file larger than this is refused before it is read
MAX_CHARS = 2_000_000  # of extracted text: far beyond any context, short of a frozen tab
# JSON nested deeper is not parsed: json's C scanner recurses on the C stack, and in the
# page it overflows the JavaScript stack (a fatal error that ends Python) a few thousand
# levels down (between 5,000 and 7,000 in Node), before any RecursionError; real data
# stays far below this.
MAX_DEPTH = 500
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # brackets inside strings do not nest
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class AttachmentError(HearthError):
    """A file that cannot be attached; the text says which and what to do."""


class FileKind(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    CODE = "code"
    CSV = "csv"
    JSON = "json"
    PDF = "pdf"


EXTENSIONS: dict[str, FileKind] = {
    **dict.fromkeys(("txt", "text", "log"), FileKind.TEXT),
    **dict.fromkeys(("md", "markdown"), FileKind.MARKDOWN),
    **dict.fromkeys(("csv", "tsv"), FileKind.CSV),
    **dict.fromkeys(("json", "jsonl"), FileKind.JSON),
    "pdf": FileKind.PDF,
    **dict.fromkeys(
        (
            "py js mjs cjs ts tsx jsx c h cpp hpp cc cs java kt go rs rb php swift sh bash "
            "zsh ps1 sql html htm css scss xml yaml yml toml ini cfg r lua pl scala dart m "
            "vue svelte"
        ).split(),
        FileKind.CODE,
    ),
}
# Not .ipynb: a notebook's JSON is mostly outputs and metadata (images in base64) that
# would fill the context; its code exported as .py reads far better.
NAMES = {"dockerfile": FileKind.CODE, "makefile": FileKind.CODE}  # files known by name
SUPPORTED = ".txt, .md, .csv, .json, .pdf and code files (.py, .js, .ts, .c, .java, .go, .rs, …)"


@dataclass(frozen=True)
class Attachment:
    name: str
    text: str
    kind: FileKind


class Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def text(self) -> str: ...


def shown_name(name: str) -> str:
    """The file name with its control characters and line breaks made spaces: it is printed
    into the prompt, where a newline in a name (legal on Linux, and possible in an imported
    chat) could otherwise forge the layout around a file's text."""
    return "".join(c if c.isprintable() else " " for c in name)


def kind_of(name: str) -> FileKind:
    path = PurePosixPath(name.replace("\\", "/"))
    kind = NAMES.get(path.name.lower()) or EXTENSIONS.get(path.suffix.lower().lstrip("."))
    if kind is None:
        raise AttachmentError(f"{name} cannot be attached: Hearth reads {SUPPORTED}.")
    return kind


def extract(name: str, data: bytes) -> Attachment:
    """The text of an attached file, or an AttachmentError that says why not. The cheap
    checks come first: the byte cap before anything is read, the character cap before
    JSON is parsed, and a PDF stops at the page that crosses it."""
    name = shown_name(name)
    kind = kind_of(name)
    if len(data) > MAX_BYTES:
        raise AttachmentError(
            f"{name} is {len(data) / (1 << 20):.1f} MB; Hearth attaches files up to "
            f"{MAX_BYTES >> 20} MB. Attach a shorter excerpt."
        )
    text = _pdf_text(name, data) if kind == FileKind.PDF else _decode(name, data)
    if len(text) > MAX_CHARS:
        raise _too_long(name, f"{len(text):,} characters of text")
    if not text.strip():
        raise AttachmentError(f"{name} is empty. Attach a file with some text in it.")
    if kind == FileKind.JSON:
        _check_json(name, text)
    return Attachment(name, text, kind)


def _too_long(name: str, found: str) -> AttachmentError:
    return AttachmentError(
        f"{name} holds {found}; Hearth attaches at most {MAX_CHARS:,} characters. "
        "Attach a shorter excerpt."
    )


def _decode(name: str, data: bytes) -> str:
    """UTF-8 (a BOM is dropped) or UTF-16 with its BOM. Anything else is refused, not
    guessed: invalid UTF-8 could be cp1252 or any other code page, and a wrong guess shows
    the model mojibake with no sign that anything went wrong; NUL bytes mean binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise _not_text(name) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            if b"\x00" in data:
                raise _not_text(name) from None
            raise AttachmentError(
                f"{name} is not UTF-8 text. Save it as UTF-8 (most editors offer it under "
                "Save As, Encoding) and attach it again."
            ) from None
    if "\x00" in text:
        raise _not_text(name)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _not_text(name: str) -> AttachmentError:
    return AttachmentError(
        f"{name} is not a text file (it holds binary data). Attach {SUPPORTED} instead."
    )


def _check_json(name: str, text: str) -> None:
    """Parsed only to catch a broken file before it is sent; the model gets the text as
    written. JSON Lines is one document per line, split at line feeds alone: a JSON string
    may hold U+2028, where `splitlines` would cut it. `parse_int=str`, because a number longer
    than Python's int conversion limit is still valid JSON."""
    if name.lower().endswith(".jsonl"):
        lines = enumerate(text.split("\n"), start=1)
        documents = [(number, line) for number, line in lines if line.strip()]
    else:
        documents = [(1, text)]
    for first, document in documents:
        if _depth(document) > MAX_DEPTH:
            raise AttachmentError(
                f"{name} nests more than {MAX_DEPTH} levels deep, too deep to check as JSON. "
                "Attach it as .txt to send it as it is."
            )
        try:
            json.loads(document, parse_int=str)
        except json.JSONDecodeError as error:
            raise AttachmentError(
                f"{name} is not valid JSON (line {first + error.lineno - 1}: {error.msg}). "
                "Fix it, or attach it as .txt to send it as it is."
            ) from None


def _depth(document: str) -> int:
    """How deep the brackets of a JSON document nest, counted without recursion."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", document))
    return max(accumulate(1 if b in "[{" else -1 for b in brackets), default=0)


def _pdf_text(name: str, data: bytes) -> str:
    """Every page's text, each under a "Page N" line so answers can cite pages.

    Any exception from pypdf becomes one message: on damaged input it raises more than its
    own error types (fuzzing found NotImplementedError and AttributeError), and a file the
    user picked must never end in a traceback. AES needs `cryptography`, which the page
    does not have, so an AES-encrypted PDF is refused even when it opens without a password
    (pypdf says so with a DependencyError that names AES, from the reader or from a page).
    """
    from pypdf import PdfReader  # loaded in the page only when a PDF is attached
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))  # which tries the empty password itself
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentError(
                f"{name} is protected by a password. Save an unprotected copy and attach that."
            )
        pages: list[str] = []
        read = 0
        for number, page in enumerate(reader.pages, start=1):
            pages.append((page.extract_text() or "").strip())
            read += len(pages[-1])
            if read > MAX_CHARS:
                raise _too_long(name, f"{read:,} characters of text by page {number}")
    except AttachmentError:
        raise
    except Exception as error:
        if isinstance(error, DependencyError) and "AES" in str(error):
            raise AttachmentError(
                f"{name} is encrypted with AES, which Hearth cannot decrypt in the browser. "
                "Print it to a new PDF (or save an unprotected copy) and attach that."
            ) from None
        raise AttachmentError(
            f"{name} could not be read as a PDF; it may be damaged or not a PDF at all. "
            "Open it and save or print it to a new PDF, then attach that."
        ) from None
    if not any(pages):
        raise AttachmentError(
            f"{name} has no text layer (it is probably scanned images). Run OCR on it first, "
            "or copy its text into a .txt file."
        )
    return "\n\n".join(f"Page {i}\n{page}" for i, page in enumerate(pages, start=1))


def fence(text: str) -> str:
    """A backtick fence longer than any backtick run in `text`, so the text cannot end it
    (CommonMark's rule: a fence closes only on a run at least as long)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def prompt_text(attachments: Sequence[Named], question: str) -> str:
    """A user message with its files, as every backend receives it: each file under its
    name in a fenced block (models read fences as verbatim material), then the question."""
    parts = []
    for file in attachments:
        mark = fence(file.text)
        parts.append(f"Attached file: {shown_name(file.name)}\n{mark}\n{file.text}\n{mark}")
    return "\n\n".join([*parts, question]) if question else "\n\n".join(parts)
