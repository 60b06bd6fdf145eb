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
from pathlib import PurePosixPath
from typing import Protocol

from pyapp.errors import HearthError

MAX_BYTES = 20 << 20  # a file larger than this is refused before it is read
MAX_CHARS = 2_000_000  # of extracted text: far beyond any context, short of a frozen tab


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


def kind_of(name: str) -> FileKind:
    path = PurePosixPath(name.replace("\\", "/"))
    kind = NAMES.get(path.name.lower()) or EXTENSIONS.get(path.suffix.lower().lstrip("."))
    if kind is None:
        raise AttachmentError(f"{name} cannot be attached: Hearth reads {SUPPORTED}.")
    return kind


def extract(name: str, data: bytes) -> Attachment:
    """The text of an attached file, or an AttachmentError that says why not."""
    kind = kind_of(name)
    if len(data) > MAX_BYTES:
        raise AttachmentError(
            f"{name} is {len(data) / (1 << 20):.1f} MB; Hearth attaches files up to "
            f"{MAX_BYTES >> 20} MB. Attach a shorter excerpt."
        )
    text = _pdf_text(name, data) if kind == FileKind.PDF else _decode(name, data)
    if kind == FileKind.JSON:
        _check_json(name, text)
    if len(text) > MAX_CHARS:
        raise AttachmentError(
            f"{name} holds {len(text):,} characters of text; Hearth attaches at most "
            f"{MAX_CHARS:,}. Attach a shorter excerpt."
        )
    return Attachment(name, text, kind)


def _decode(name: str, data: bytes) -> str:
    """UTF-8 (a BOM is dropped) or UTF-16 with its BOM; anything else with NUL bytes or
    invalid UTF-8 is refused rather than shown as mojibake."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise _not_text(name) from None
    else:
        if b"\x00" in data:
            raise _not_text(name)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise AttachmentError(
                f"{name} is not UTF-8 text. Save it as UTF-8 (most editors offer it under "
                "Save As, Encoding) and attach it again."
            ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _not_text(name: str) -> AttachmentError:
    return AttachmentError(
        f"{name} is not a text file (it holds binary data). Attach {SUPPORTED} instead."
    )


def _check_json(name: str, text: str) -> None:
    lines = text.splitlines() if name.lower().endswith(".jsonl") else [text]
    for number, line in enumerate(lines, start=1):
        if not line.strip() and len(lines) > 1:
            continue
        try:
            json.loads(line)
        except ValueError as error:
            where = f"line {number}" if len(lines) > 1 else f"line {error.lineno}"  # type: ignore[attr-defined]
            raise AttachmentError(
                f"{name} is not valid JSON ({where}: {error.msg}). "  # type: ignore[attr-defined]
                "Fix it, or attach it as .txt to send it as it is."
            ) from None


def _pdf_text(name: str, data: bytes) -> str:
    """Every page's text, each under a "Page N" line so answers can cite pages."""
    from pypdf import PdfReader  # loaded in the page only when a PDF is attached
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentError(
                f"{name} is protected by a password. Save an unprotected copy and attach that."
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except AttachmentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, IndexError) as error:
        raise AttachmentError(
            f"{name} could not be read as a PDF ({type(error).__name__}); it may be damaged. "
            "Open it and save or print it to a new PDF, then attach that."
        ) from None
    if not any(page.strip() for page in pages):
        raise AttachmentError(
            f"{name} has no text layer (it is probably scanned images). Run OCR on it first, "
            "or copy its text into a .txt file."
        )
    return "\n\n".join(f"Page {i}\n{page.strip()}" for i, page in enumerate(pages, start=1))


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
        parts.append(f"Attached file: {file.name}\n{mark}\n{file.text}\n{mark}")
    return "\n\n".join([*parts, question]) if question else "\n\n".join(parts)
