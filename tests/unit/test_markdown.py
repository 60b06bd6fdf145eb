"""Replies as Markdown: what renders, what never does, and streaming that re-renders only
the growing tail."""

from __future__ import annotations

import random
import re

import pytest

from pyapp.markdown import (
    HIGHLIGHT_LIMIT,
    HIGHLIGHT_PIECE,
    Markdown,
    MarkdownStream,
    _pieces,
    highlight,
)

MD = Markdown()

SAMPLE = """Here is **bold**, *em*, `code` and ~~gone~~.

| Language | Typed |
|:---------|------:|
| Python   | yes   |

```python
def square(x: int) -> int:
    return x ** 2
```

> quoted
> text

1. one
2. two

- a
- b

    indented code

# Heading

Last paragraph with a [link](https://example.org/a?b=1) and <https://auto.example>.
"""


def html(text: str) -> str:
    return "".join(MD.render(text))


def test_commonmark_tables_strikethrough_and_highlighted_code() -> None:
    out = html(SAMPLE)
    assert "<strong>bold</strong>" in out and "<em>em</em>" in out and "<s>gone</s>" in out
    assert "<table>" in out and '<th class="align-left">Language</th>' in out
    assert '<td class="align-right">yes</td>' in out
    assert '<pre class="highlight"><code class="language-python"><span class="k">def</span>' in out
    assert "<blockquote>" in out and "<ol>" in out and "<h1>Heading</h1>" in out
    assert 'href="https://example.org/a?b=1" target="_blank" rel="noopener noreferrer"' in out
    assert "style=" not in out  # alignment is a class: the CSP allows no inline style


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<b onmouseover=alert(1)>x</b>",
        '<img src="x" onerror="alert(1)">',
        "<iframe src=https://evil.example></iframe>",
        "<style>body{display:none}</style>",
        '<a href="javascript:alert(1)">x</a>',
    ],
)
def test_raw_html_is_text(hostile: str) -> None:
    out = html(f"before {hostile} after")
    assert "<" + hostile[1:] not in out
    assert "&lt;" in out
    assert not re.search(r"<(script|img|iframe|style|b )", out)


@pytest.mark.parametrize(
    "link",
    [
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](vbscript:msgbox)",
        "[x](file:///etc/passwd)",
        "[x](/relative/path)",
        "<javascript:alert(1)>",
    ],
)
def test_only_http_and_mailto_links_become_links(link: str) -> None:
    assert "<a " not in html(link)


def test_mailto_is_a_link_and_images_are_never_fetched() -> None:
    assert '<a href="mailto:me@example.org"' in html("[mail](mailto:me@example.org)")
    out = html("![a cat](https://example.org/cat.png) ![](http://x/y.png)")
    assert "<img" not in out and "example.org/cat.png" not in out
    assert "[a cat]" in out and "[image]" in out


def test_an_unknown_language_is_escaped_not_guessed() -> None:
    out = html("```nosuchlang\n<b>x</b>\n```")
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<span" not in out


def test_an_unfinished_fence_is_plain_until_it_closes() -> None:
    assert "<span" not in html("```python\ndef f(): pass\n")
    assert '<span class="k">def</span>' in html("```python\ndef f(): pass\n```")


def chunks(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), 40))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@pytest.mark.parametrize("seed", range(5))
def test_streaming_renders_what_a_full_render_would(seed: int) -> None:
    stream = MarkdownStream(MD)
    shown: list[str] = []
    text = ""
    for piece in chunks(SAMPLE, random.Random(seed)):
        text += piece
        start, blocks = stream.update(text)
        shown[start:] = blocks
    assert "".join(shown) == html(SAMPLE)


def test_streaming_work_stays_bounded_by_the_last_block() -> None:
    """Each update parses only what follows the finished blocks, not the whole reply."""
    parsed: list[int] = []

    class Counting(Markdown):
        def blocks(self, text: str):  # type: ignore[no-untyped-def]
            parsed.append(len(text))
            return super().blocks(text)

    stream = MarkdownStream(Counting())
    text = ""
    for i in range(200):
        text += f"Paragraph number {i} with some words.\n\n"
        stream.update(text)
    assert len(text) > 7000
    assert max(parsed) < 100  # a paragraph or two, never the 7 KB reply


def test_a_reply_cannot_pick_a_lexer_that_backtracks_for_seconds() -> None:
    """`mcfunction` took 17 s in the page on this (security review, 2026-12-02)."""
    hostile = "0" * 260 + "e"
    assert highlight(hostile, "mcfunction") == hostile
    assert highlight("<b>", "systemd") == "&lt;b&gt;"  # unlisted: escaped, never run


def test_long_code_is_highlighted_in_pieces_of_whole_lines() -> None:
    code = "".join(f"int x{i} = {i};\n" for i in range(1500))  # about 23,000 characters
    assert _pieces(code) is None  # over the limit: shown escaped
    code = code[:HIGHLIGHT_LIMIT].rsplit("\n", 1)[0] + "\n"
    pieces = _pieces(code)
    assert pieces is not None and "".join(pieces) == code
    assert len(pieces) > 1 and all(len(p) <= HIGHLIGHT_PIECE for p in pieces)
    assert all(p.endswith("\n") for p in pieces)
    out = highlight(code, "java")
    assert out.count('<span class="kt">int</span>') == code.count("int ")
    assert _pieces("x" * (HIGHLIGHT_PIECE + 1)) is None  # one line too long to cut
