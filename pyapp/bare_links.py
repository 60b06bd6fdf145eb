"""Bare web addresses in a reply become links, as in most chat apps: "see
https://docs.python.org/3/." links the address without its full stop.

markdown-it's own `linkify` needs linkify-it-py, whose matcher takes quadratic time on a
long run such as "http://a." repeated (2.9 s for 20,000 characters, 26 s for 80,000 in
CPython), and a reply is rendered in the worker that runs the model. This rule finds
addresses with one linear regular expression instead, and only those that start with
http:// or https://: "main.py" or "www.example.com" stay text, so nothing that merely
looks like a domain becomes a link. The link then goes through the same checks as any
Markdown link (pyapp.markdown: `validateLink`, a new tab, `rel="noopener noreferrer"`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # markdown-it is loaded into the page on demand
    from markdown_it.rules_core import StateCore
    from markdown_it.token import Token

# `\b`: not inside a word ("xhttps://…" stays text); the address ends at white space or at
# a character that cannot be part of one in running text
ADDRESS = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,:;!?*_~'\""  # sentence punctuation after an address, not part of it
CLOSERS = {")": "(", "]": "["}


def trim(address: str) -> str:
    """`address` without the punctuation that ends the sentence around it: trailing
    full stops, commas and the like, and a closing bracket with no opening one inside
    (so "(see https://en.wikipedia.org/wiki/Ada_(language))" keeps one of its two)."""
    while address:
        last = address[-1]
        if last in TRAILING:
            address = address[:-1]
        elif last in CLOSERS and address.count(last) > address.count(CLOSERS[last]):
            address = address[:-1]
        else:
            break
    return address


def bare_links(state: StateCore) -> None:
    """The core rule: split every text token outside a link at the addresses in it."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        inside = 0  # within a Markdown link already: its text is not linked again
        for token in block.children:
            if token.type == "link_open":
                inside += 1
            elif token.type == "link_close":
                inside -= 1
            if token.type == "text" and not inside and "://" in token.content:
                children.extend(_split(token, state))
            else:
                children.append(token)
        block.children = children


def _split(token: Token, state: StateCore) -> list[Token]:
    from markdown_it.token import Token

    text, level, md = token.content, token.level, state.md
    pieces: list[Token] = []
    done = 0

    def plain(end: int) -> None:
        if end > done:
            pieces.append(Token("text", "", 0, content=text[done:end], level=level))

    for found in ADDRESS.finditer(text):
        address = trim(found.group())
        href = md.normalizeLink(address)
        if not address.partition("://")[2] or not md.validateLink(href):
            continue
        plain(found.start())
        opening = Token("link_open", "a", 1, attrs={"href": href}, markup="linkify", level=level)
        label = md.normalizeLinkText(address)
        pieces += [
            opening,
            Token("text", "", 0, content=label, level=level + 1),
            Token("link_close", "a", -1, markup="linkify", level=level),
        ]
        done = found.start() + len(address)
    if not pieces:
        return [token]
    plain(len(text))
    return pieces
