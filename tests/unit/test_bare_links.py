"""Bare http(s) addresses in replies become links; nothing else does."""

from __future__ import annotations

import pytest

from pyapp.bare_links import ADDRESS, trim
from pyapp.markdown import Markdown

MD = Markdown()


def html(text: str) -> str:
    return "".join(MD.render(text))


def link(address: str) -> str:
    return f'<a href="{address}" target="_blank" rel="noopener noreferrer">{address}</a>'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://docs.python.org/3/.", f"see {link('https://docs.python.org/3/')}."),
        ("at http://localhost:8000/x, then", f"at {link('http://localhost:8000/x')}, then"),
        (
            "(see https://en.wikipedia.org/wiki/Ada_(language))",
            f"(see {link('https://en.wikipedia.org/wiki/Ada_(language)')})",
        ),
        ("https://a.b/c?d=1&e=2!", link("https://a.b/c?d=1&amp;e=2") + "!"),
        ("**https://bold.example**", f"<strong>{link('https://bold.example')}</strong>"),
        # found before emphasis is parsed: underscores and stars stay in the address
        (
            "https://github.com/python/cpython/blob/main/Lib/json/__init__.py",
            link("https://github.com/python/cpython/blob/main/Lib/json/__init__.py"),
        ),
        ("see https://a.example/x*y*z now", f"see {link('https://a.example/x*y*z')} now"),
        ("_https://em.example_", f"<em>{link('https://em.example')}</em>"),
        (
            "two: https://a.example https://b.example",
            f"two: {link('https://a.example')} {link('https://b.example')}",
        ),
    ],
)
def test_a_bare_address_is_linked_without_the_sentence_around_it(text: str, expected: str) -> None:
    assert html(text) == f"<p>{expected}</p>\n"


@pytest.mark.parametrize(
    "text",
    [
        "main.py and www.example.com and a@b.example",  # no scheme: never guessed
        "xhttps://inside.a.word",
        "http:// alone",
        "`https://in.code`",
        "javascript:alert(1) and data:text/html,hi",
    ],
)
def test_only_http_addresses_with_a_host_are_linked(text: str) -> None:
    assert "<a " not in html(text)


def test_a_markdown_link_and_code_are_left_as_they_are() -> None:
    out = html("[https://shown.example](https://target.example) and <https://auto.example>")
    assert out.count("<a ") == 2 and "shown.example</a>" in out  # not linked twice
    assert 'href="https://target.example"' in out
    assert "<a " not in html("```\nhttps://fenced.example\n```")


def test_trim_keeps_a_closing_bracket_that_has_its_opening() -> None:
    assert trim("https://a.example/x_(y))") == "https://a.example/x_(y)"
    assert trim("https://a.example/[1]].") == "https://a.example/[1]"
    assert trim("https://a.example/'\"*_~") == "https://a.example/"


@pytest.mark.parametrize(
    "unit", ["http://a.", "https://", "http://a.b/(", "a.https://", ")", "http://a:"]
)
def test_a_long_run_is_one_match_not_one_per_scheme(unit: str) -> None:
    """What made linkify-it-py quadratic: a match tried at every "http://" in a run, each
    scanning to the run's end. Here one match takes the whole run (counted, not timed)."""
    text = unit * 8_000
    assert len(list(ADDRESS.finditer(text))) <= 1
    assert html(text).count("<a ") <= 1
