"""URL query parameters preset settings; bad ones are reported, never fatal."""

from __future__ import annotations

from pyapp.settings import Backend, Settings


def test_query_presets_every_setting() -> None:
    settings, problems = Settings().with_query(
        "?backend=foundry&model=phi-4-mini&temperature=0&max_tokens=64&seed=7&system=Be%20brief&top_p=0.5"
    )
    assert problems == []
    assert settings == Settings(
        backend=Backend.FOUNDRY,
        model="phi-4-mini",
        temperature=0.0,
        max_tokens=64,
        seed=7,
        system="Be brief",
        top_p=0.5,
    )


def test_bad_values_are_reported_and_ignored() -> None:
    base = Settings()
    settings, problems = base.with_query("temperature=warm&max_tokens=0&backend=cloud&seed=-1")
    assert settings == base
    assert len(problems) == 4
    assert "temperature='warm'" in problems[0] and "number from 0 to 2" in problems[0]
    assert "whole number from 1" in problems[1]
    assert "browser, foundry" in problems[2]


def test_unknown_parameters_are_ignored_silently() -> None:
    settings, problems = Settings().with_query("utm_source=x&temperature=1.5")
    assert settings.temperature == 1.5
    assert problems == []
