"""User settings: what is saved in the browser, and what a link presets for one visit.

`?backend=foundry|auto&temperature=0&max_tokens=64&seed=1&system=...` opens the chat in a known
configuration (for a link or a test); `?threads=N` pins the WASM thread count (default:
the machine's cores, at most 4) and `?markdown=0` shows replies as plain text (the
benchmark's baseline for the cost of rendering). URL presets apply to that page load only
and are never saved: a link cannot change someone's settings for good. Bad values, saved
or in the URL, are reported and ignored, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

MAX_TOKENS_LIMIT = 32768  # also the settings panel's max (site/index.html)


class Backend(StrEnum):
    """Where replies come from: the model in this page, a Foundry Local/OpenAI server, or
    Auto, which picks one of the two for each message (pyapp/route.py)."""

    BROWSER = "browser"
    FOUNDRY = "foundry"
    AUTO = "auto"


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
    markdown: bool = True
    route_tokens: int = 1024  # under Auto, longer messages go to Foundry (when it answers)

    def with_query(self, query: str) -> tuple[Settings, list[str]]:
        changes, problems = _parse(_query(query), "URL parameter ")
        return replace(self, **changes), problems


# Saved between visits (the settings panel and the header's pickers), with the names the
# page shows them by.
LABELS = {
    "backend": "Backend",
    "model": "Model",
    "system": "System prompt",
    "temperature": "Temperature",
    "top_p": "Top-p",
    "max_tokens": "Max tokens",
    "route_tokens": "Auto's threshold",
}
SAVED = tuple(LABELS)
# Presets a link could turn against its reader: where messages go (the backend, the model,
# Auto's threshold) and what the model is told. The page says which a link set, at once.
# By the names a sentence gives them.
NOTICED = {
    "backend": "the backend",
    "model": "the model",
    "route_tokens": "Auto's threshold",
    "system": "the system prompt",
}
BACKEND_NAMES = {
    Backend.BROWSER: "the in-browser model",
    Backend.FOUNDRY: "Foundry Local",
    Backend.AUTO: "Auto",
}
SHOWN_CHARS = 80  # of a preset system prompt, in the notice


@dataclass
class Preferences:
    """The saved settings plus this visit's URL presets (`overrides`), which are never
    saved; editing a field in the panel saves it and ends its preset."""

    saved: Settings = field(default_factory=Settings)
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, stored: object, query: str) -> tuple[Preferences, list[str]]:
        """From whatever storage held (any JSON value: a damaged entry must not stop the
        app) and the page's URL query."""
        problems: list[str] = []
        saved = Settings()
        if isinstance(stored, dict):
            values = {k: _as_text(v) for k, v in stored.items() if k in SAVED}
            changes, problems = _parse(
                {k: v for k, v in values.items() if v is not None}, "saved setting "
            )
            saved = replace(saved, **changes)
        elif stored is not None:
            problems.append("Saved settings were unreadable and were reset to the defaults.")
        overrides, bad = _parse(_query(query), "URL parameter ")
        return cls(saved, overrides), problems + bad

    @property
    def effective(self) -> Settings:
        return replace(self.saved, **self.overrides)

    def edit(self, name: str, raw: str) -> str | None:
        """The user changed `name` in the page: save it; returns a problem to show, if any.
        A bad value changes nothing, and the problem says what the setting takes and which
        value stays in use (the page then shows that value again)."""
        if name not in SAVED:
            return f"{name} is not a setting."
        try:
            value = _PARSERS[name](raw)
        except ValueError as error:
            takes = str(error).removeprefix("expected ")
            kept = getattr(self.effective, name)
            return f"{LABELS[name]} takes {takes}; it stays at {as_typed(kept)}."
        self.saved = replace(self.saved, **{name: value})
        self.overrides.pop(name, None)
        return None

    def link_notice(self) -> str | None:
        """What this visit's link set that decides where messages go or what the model is
        told (None: nothing, or only what the saved settings say anyway)."""
        changed = [
            f"{called} to {_shown(name, self.overrides[name])}"
            for name, called in NOTICED.items()
            if name in self.overrides and self.overrides[name] != getattr(self.saved, name)
        ]
        if not changed:
            return None
        listed = ", ".join(changed[:-1]) + " and " + changed[-1] if len(changed) > 1 else changed[0]
        return f"This link set {listed} (for this visit only)."

    def discard_link(self) -> None:
        """Back to the saved settings; a preset the page does not save (?threads=,
        ?markdown=, ?seed=) stays, since it only tunes this page."""
        for name in SAVED:
            self.overrides.pop(name, None)

    def stored(self) -> dict[str, Any]:
        """What to save: only the saved settings, never a URL preset."""
        return {name: getattr(self.saved, name) for name in SAVED}


def as_typed(value: object) -> str:
    """A setting as its field shows it: a whole float as typed ("0", not "0.0")."""
    text = str(value)
    return text.removesuffix(".0") if isinstance(value, float) else text


def _shown(name: str, value: Any) -> str:
    if name == "backend":
        return BACKEND_NAMES[value]
    if name == "route_tokens":
        return f"{value:,} tokens"
    if name == "system":
        short = " ".join(str(value).split())
        cut = short[:SHOWN_CHARS].rstrip() + "…" if len(short) > SHOWN_CHARS else short
        return f"“{cut}”"
    return f"“{value}”"


def _query(query: str) -> dict[str, str]:
    return dict(parse_qsl(query.lstrip("?"), keep_blank_values=True))


def _parse(values: dict[str, str], what: str) -> tuple[dict[str, Any], list[str]]:
    """Parsed values by name, and one "Ignored ..." message per bad one; unknown names are
    skipped silently (URLs carry unrelated parameters)."""
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in values.items():
        parser = _PARSERS.get(key)
        if parser is None:
            continue
        try:
            changes[key] = parser(raw)
        except ValueError as error:
            problems.append(f"Ignored {what}{key}={raw!r}: {error}.")
    return changes, problems


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    return str(value)


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
        return value + 0  # "-0" is 0, and shows so

    return parse


def _backend(raw: str) -> Backend:
    try:
        return Backend(raw)
    except ValueError:
        choices = ", ".join(b.value for b in Backend)
        raise ValueError(f"expected one of {choices}") from None


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1 or 0")


def _text(raw: str) -> str:
    return raw


def _model(raw: str) -> str | None:
    return raw or None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "backend": _backend,
    "model": _model,
    "temperature": _ranged(float, 0.0, 2.0, "number"),
    "top_p": _ranged(float, 0.0, 1.0, "number"),
    "max_tokens": _ranged(int, 1, MAX_TOKENS_LIMIT, "whole number"),
    "seed": _ranged(int, 0, 2**32 - 1, "whole number"),
    "system": _text,
    "threads": _ranged(int, 1, 64, "whole number"),
    "markdown": _flag,
    "route_tokens": _ranged(int, 16, MAX_TOKENS_LIMIT, "whole number"),
}
