"""User settings, and presetting them from the page's URL query.

`?backend=foundry&temperature=0&max_tokens=64&seed=1&system=...` lets a link (or a test)
open the chat in a known configuration; `?threads=N` pins the WASM thread count (default:
the machine's cores, at most 4). Bad values are reported, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl


class Backend(StrEnum):
    """Where replies come from: the model in this page, or a Foundry Local/OpenAI server."""

    BROWSER = "browser"
    FOUNDRY = "foundry"


@dataclass(frozen=True)
class Settings:
    backend: Backend = Backend.BROWSER
    model: str | None = None
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 512
    seed: int | None = None
    system: str = "You are a helpful assistant."
    threads: int | None = None

    def with_query(self, query: str) -> tuple[Settings, list[str]]:
        """Apply URL parameters; returns the new settings and one message per ignored value."""
        changes: dict[str, Any] = {}
        problems: list[str] = []
        for key, raw in parse_qsl(query.lstrip("?"), keep_blank_values=True):
            parser = _PARSERS.get(key)
            if parser is None:
                continue
            try:
                changes[key] = parser(raw)
            except ValueError as error:
                problems.append(f"Ignored URL parameter {key}={raw!r}: {error}.")
        return replace(self, **changes), problems


def _ranged(
    convert: Callable[[str], float], low: float, high: float, kind: str
) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        shown = [f"{v:g}" if convert is float else str(int(v)) for v in (low, high)]
        expected = f"expected a {kind} from {shown[0]} to {shown[1]}"
        try:
            value = convert(raw)
        except ValueError:
            raise ValueError(expected) from None
        if not low <= value <= high:
            raise ValueError(expected)
        return value

    return parse


def _backend(raw: str) -> Backend:
    try:
        return Backend(raw)
    except ValueError:
        choices = ", ".join(b.value for b in Backend)
        raise ValueError(f"expected one of {choices}") from None


def _text(raw: str) -> str:
    return raw


_PARSERS: dict[str, Callable[[str], Any]] = {
    "backend": _backend,
    "model": _text,
    "temperature": _ranged(float, 0.0, 2.0, "number"),
    "top_p": _ranged(float, 0.0, 1.0, "number"),
    "max_tokens": _ranged(int, 1, 32768, "whole number"),
    "seed": _ranged(int, 0, 2**32 - 1, "whole number"),
    "system": _text,
    "threads": _ranged(int, 1, 64, "whole number"),
}
