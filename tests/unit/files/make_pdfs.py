"""Writes the AES-encrypted PDFs in this folder, which the tests cannot write themselves.

pypdf encrypts with AES only when `cryptography` is installed, and Hearth ships no AES (the
page has no `cryptography`), so these two files are made once, outside the test venv:

    python -m venv /tmp/aes && /tmp/aes/bin/pip install pypdf==7.1.1 cryptography
    /tmp/aes/bin/python -m tests.unit.files.make_pdfs   # from the repository root

Both open without a password (only editing is restricted), the common case for a bank
statement or a form; RC4-encrypted and password-protected PDFs are written in the tests.
"""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfWriter

from tests.support.pdf import text_pdf

HERE = Path(__file__).parent


def main() -> None:
    for algorithm, name in (("AES-128", "aes128.pdf"), ("AES-256", "aes256.pdf")):
        writer = PdfWriter(clone_from=io.BytesIO(text_pdf([["Statement", "Balance: 42"]])))
        writer.encrypt(user_password="", owner_password="owner", algorithm=algorithm)
        out = io.BytesIO()
        writer.write(out)
        (HERE / name).write_bytes(out.getvalue())


if __name__ == "__main__":
    main()
