"""The one error serve.py answers with: an HTTP status and an OpenAI-style JSON body.

The page's openai client, a script's openai client and the page's own fetches all read
`{"error": {"message", "type", "code"}}`, so refusals, proxy failures and malformed
requests all use this shape, and the message always says what to do next.
"""

from __future__ import annotations


class HttpError(Exception):
    """A failure to report as an OpenAI-style error with this status."""

    def __init__(self, status: int, message: str, kind: str = "upstream_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.kind, "code": self.status}}
