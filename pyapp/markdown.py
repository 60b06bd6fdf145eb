"""Replies as Markdown: CommonMark with tables and strikethrough, code highlighted by Pygments.

Safety comes in layers, so no single mistake lets a hostile reply run code:
- raw HTML in a reply is text (markdown-it with `html=False` escapes it);
- a link survives only with an http(s) or mailto address, and opens in a new tab with
  `rel="noopener noreferrer"` (a bare http(s) address is linked too: pyapp/bare_links.py);
  an image becomes its alt text, so the page never fetches anything a reply names;
- inline styles are never written (table alignment is a class), so the page's CSP can
  forbid them;
- the main thread passes every block through DOMPurify before it reaches the DOM
  (site/ui.js), and the CSP blocks scripts and remote images regardless.

Rendering happens while a reply streams, in the same worker that runs the model, so it
must stay cheap: a reply is cut into its top-level blocks, and `MarkdownStream`
re-renders only the last (still growing) one; an unfinished code fence is shown plain
and highlighted once it closes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pyapp.bare_links import bare_links

if TYPE_CHECKING:  # markdown-it is loaded into the page on demand, before Markdown() is made
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

SAFE_LINK = re.compile(r"^(?:https?:|mailto:)", re.IGNORECASE)
_ALIGN = re.compile(r"text-align:(left|center|right)")


@dataclass(frozen=True)
class Block:
    """One top-level block of a reply: the source lines it covers and its HTML."""

    start: int
    end: int
    html: str


# The languages highlighted, by the names replies give them. A reply chooses the language,
# and many of Pygments' lexers backtrack badly on hostile input: `mcfunction` took 17 s
# in the page on 260 zeros and an `e`, `java` 5 s on 20,000 characters of short lines of
# tabs and letters; the worker, which also runs the model, would hang on every load of
# that chat (security review, 2026-12-02). So only these languages are highlighted, in
# pieces of at most HIGHLIGHT_PIECE characters (whole lines: a lexer's work grows with the
# square of what it is given, so the pieces keep the whole linear), and only blocks of at
# most HIGHLIGHT_LIMIT characters with no line longer than a piece. Anything else is shown
# as escaped text. A string or comment that spans two pieces may be coloured as code.
LANGUAGES = frozenset(
    "bash c c# c++ cpp cs csharp css diff dockerfile go haskell html java javascript js "
    "json jsx kotlin lua markdown md perl php powershell ps1 py python r rb "
    "ruby rs rust scala scss sh shell sql swift toml ts tsx typescript xml yaml yml zsh".split()
)
HIGHLIGHT_LIMIT = 20_000
HIGHLIGHT_PIECE = 2_000


@lru_cache(maxsize=256)
def highlight(code: str, language: str) -> str:
    """Pygments' HTML for `code` (token classes, styled by app.css), or escaped text for a
    language not in LANGUAGES (guessing one is slow and often wrong) or code too long to
    highlight safely."""
    pieces = _pieces(code) if language in LANGUAGES else None
    if pieces is None:
        return html.escape(code)
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    lexer = get_lexer_by_name(language, stripnl=False)  # a piece may start with blank lines
    formatter = HtmlFormatter(nowrap=True)
    return "".join(str(pygmentize(piece, lexer, formatter)) for piece in pieces)


def _pieces(code: str) -> list[str] | None:
    """`code` cut at line ends into pieces of at most HIGHLIGHT_PIECE characters, or None
    when it is too long to highlight, or has a line longer than a piece."""
    if len(code) > HIGHLIGHT_LIMIT:
        return None
    pieces: list[str] = []
    current = ""
    for line in code.splitlines(keepends=True):
        if len(line) > HIGHLIGHT_PIECE:
            return None
        if len(current) + len(line) > HIGHLIGHT_PIECE:
            pieces.append(current)
            current = ""
        current += line
    return pieces + [current] if current else pieces


def _language(info: str) -> str:
    return info.strip().split(maxsplit=1)[0].lower() if info.strip() else ""


class Markdown:
    def __init__(self) -> None:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"html": False, "typographer": False})
        md.enable(["table", "strikethrough"])
        md.validateLink = lambda url: bool(SAFE_LINK.match(url.strip()))  # type: ignore[method-assign]
        rules: dict[str, Any] = {
            "link_open": _link_open,
            "image": _image,
            "fence": _fence,
            "code_block": _fence,
            "th_open": _cell,
            "td_open": _cell,
        }
        for name, rule in rules.items():
            md.add_render_rule(name, rule)
        md.inline.ruler.before("linkify", "bare_links", bare_links)
        self.md = md

    def blocks(self, text: str) -> list[Block]:
        """`text` cut into its rendered top-level blocks (line numbers relative to it)."""
        env: dict[str, Any] = {"lines": text.split("\n")}
        tokens = self.md.parse(text, env)
        found: list[Block] = []
        group: list[Token] = []
        for token in tokens:
            group.append(token)
            if token.level == 0 and token.nesting <= 0:
                lines = next((t.map for t in group if t.map), None) or [0, 0]
                rendered = self.md.renderer.render(group, self.md.options, env)
                found.append(Block(lines[0], lines[1], rendered))
                group = []
        return found

    def render(self, text: str) -> list[str]:
        """The whole reply, block by block (a finished or stored reply)."""
        return [block.html for block in self.blocks(text)]


# Render rules: markdown-it calls them as renderer methods (renderer, tokens, idx, ...).


def _link_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    token.attrSet("target", "_blank")
    token.attrSet("rel", "noopener noreferrer")
    return str(renderer.renderToken(tokens, idx, options, env))


def _image(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image is never fetched: it shows as its alt text, in brackets."""
    token = tokens[idx]
    alt = "".join(child.content for child in token.children or []) or "image"
    return f'<span class="image-alt">[{html.escape(alt)}]</span>'


def _fence(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    language = _language(token.info) if token.type == "fence" else ""
    code = token.content
    body = highlight(code, language) if _closed(token, env) else html.escape(code)
    label = f' class="language-{html.escape(language, quote=True)}"' if language else ""
    return f'<pre class="highlight"><code{label}>{body}</code></pre>\n'


def _cell(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """Table alignment as a class: the CSP allows no inline style."""
    token = tokens[idx]
    style = token.attrGet("style")
    if isinstance(style, str):
        token.attrs.pop("style", None)
        found = _ALIGN.search(style)
        if found:
            token.attrSet("class", f"align-{found.group(1)}")
    return str(renderer.renderToken(tokens, idx, options, env))


def _closed(token: Token, env: EnvType) -> bool:
    """Whether a fence has its closing marker yet (an open one is still being written).
    Indented code blocks count as closed."""
    if token.type != "fence" or not token.map:
        return True
    lines: list[str] = env.get("lines", [])
    begin, end = token.map
    last = lines[end - 1].strip() if end - 1 < len(lines) else ""
    marker = token.markup
    return end - 1 > begin and last.startswith(marker) and set(last) <= set(marker[0])


class MarkdownStream:
    """Renders a growing reply: blocks that are finished are rendered once; each update
    re-renders only what follows them. `update` returns the index of the first block that
    changed and the blocks from there on."""

    def __init__(self, markdown: Markdown) -> None:
        self.markdown = markdown
        self.kept: list[str] = []  # HTML of the finished blocks
        self.kept_lines = 0  # source lines those blocks cover

    def update(self, text: str) -> tuple[int, list[str]]:
        lines = text.split("\n")
        tail = self.markdown.blocks("\n".join(lines[self.kept_lines :]))
        start = len(self.kept)
        if len(tail) > 1:
            # every block but the last is followed by another: it cannot change any more
            self.kept += [b.html for b in tail[:-1]]
            self.kept_lines += tail[-1].start
        return start, self.kept[start:] + [b.html for b in tail[-1:]]
