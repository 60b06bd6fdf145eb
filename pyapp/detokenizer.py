"""Incremental detokenisation: turn a token stream into text without ever showing half a
UTF-8 character (byte-level BPE splits multi-byte characters across tokens)."""

from __future__ import annotations

import codecs

from pyapp.tokenizer import Tokenizer


class IncrementalDecoder:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        """Text that became complete with this token (may be empty)."""
        if token_id in self.tokenizer.special_ids:
            return ""
        return str(self._utf8.decode(self.tokenizer.token_bytes(token_id)))
