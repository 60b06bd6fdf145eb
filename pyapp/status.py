"""What the status line says, and the coarse state it shows as `data-state`.

Tests and the UI contract rely on exactly the four states. The texts are built here, from
plain values, so every wording is tested in CPython.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pyapp.settings import Backend
from pyapp.stats import ReplyStats


class State(StrEnum):
    LOADING = "loading"
    READY = "ready"
    GENERATING = "generating"
    ERROR = "error"


@dataclass(frozen=True)
class ModelOption:
    id: str
    label: str
    loaded: bool = True


def picker_options(models: Sequence[ModelOption]) -> list[tuple[str, str]]:
    """(value, label) pairs for the Model picker; a model the server has not loaded yet
    says so, since choosing it takes a while."""
    return [(m.id, m.label if m.loaded else f"{m.label} (not loaded)") for m in models]


def ready_text(
    where: str, model: str, stats: ReplyStats | None, context_length: int | None = None
) -> str:
    """`Ready · <where> · <model>` and the last reply's figures, only those that are known."""
    parts = ["Ready", where, model]
    if stats is not None:
        if stats.decode_tok_s:  # None: not known; 0: under two tokens, nothing to time
            parts.append(f"{stats.decode_tok_s:.1f} tok/s")
        if stats.generated_tokens != 0:  # a reply stopped before its first token has none
            parts.append(f"TTFT {_duration(stats.ttft_s)}")
        if stats.context_used is not None and context_length:
            parts.append(f"context {stats.context_used:,}/{context_length:,}")
    return " · ".join(p for p in parts if p)


def _duration(seconds: float) -> str:
    """Milliseconds while they read at a glance (under 10 s), then seconds: a long paste's
    first token can take minutes on 2 cores."""
    return f"{seconds * 1000:.0f} ms" if round(seconds * 1000) < 10_000 else f"{seconds:,.0f} s"


def loading_text(model: str, elapsed_s: float | None = None) -> str:
    """A Foundry model being loaded; the seconds show that something is happening."""
    seconds = f" {elapsed_s:.0f} s" if elapsed_s is not None else ""
    return f"Loading {model} in Foundry Local…{seconds}"


ATTACH_HINT = "Attach a file, or drop one on the message box, to ask about it."


def empty_hint(backend: Backend | None, where: str, foundry: bool = False) -> str:
    """What an empty chat says: where the answer to a first message would come from, since
    that is what decides whether it leaves this device ("" while nothing can answer).
    `foundry`: whether Foundry Local answers, which Auto's rule depends on."""
    if backend is None:
        return ""
    auto = (
        "Short messages are answered in this browser and long ones by Foundry Local; a "
        "message with personal data always stays here."
        if foundry
        else "Foundry Local cannot be reached, so every message is answered in this browser."
    )
    said = {
        Backend.BROWSER: "The model runs in this browser: what you write stays on this device.",
        Backend.FOUNDRY: f"Replies come from {where}.",
        Backend.AUTO: auto,
    }[backend]
    return f"Ask anything. {said} {ATTACH_HINT}"


GENERATING = "Generating…"


def reading_text(done: int, total: int) -> str:
    """How far a long prompt has been read: the tokens the cache does not hold yet (the
    new message, or the whole conversation after a switch); then the reply is written."""
    if done >= total:
        return GENERATING
    return f"Reading {done:,} of {total:,} new tokens…"


def download_text(label: str, fraction: float) -> str:
    return f"Downloading {label}: {int(fraction * 100)}%"
