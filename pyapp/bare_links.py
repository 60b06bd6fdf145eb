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
    from markdown_it.rules_inline import StateInline

# not inside a word ("xhttps://…" stays text, "_https://…_" is emphasised); the address ends
# at white space or at a character that cannot be part of one in running text
ADDRESS = re.compile(r"(?<![A-Za-z0-9])https?://[^\s<>\"'`]+", re.IGNORECASE)
# the scheme at the end of the text before "://", not inside a word ("xhttps://" is text)
SCHEME = re.compile(r"(?:^|[^A-Za-z0-9.+-])(https?)$", re.IGNORECASE)
TRAILING = ".,:;!?*_~'\""  # sentence punctuation after an address, not part of it
CLOSERS = {")": "(", "]": "["}


def trim(address: str) -> str:
    """`address` without the punctuation that ends the sentence around it: trailing
    full stops, commas and the like, and a closing bracket with no opening one inside
    (so "(see https://en.wikipedia.org/wiki/Ada_(language))" keeps one of its two). One
    pass from the end: only closers and punctuation go, so the openers' count holds."""
    opened = {closer: address.count(opener) for closer, opener in CLOSERS.items()}
    closed = {closer: address.count(closer) for closer in CLOSERS}
    end = len(address)
    while end:
        last = address[end - 1]
        if last in CLOSERS and closed[last] > opened[last]:
            closed[last] -= 1
        elif last not in TRAILING:
            break
        end -= 1
    return address[:end]


def bare_links(state: StateInline, silent: bool) -> bool:
    """The inline rule, at each "://": an address whose scheme the text just before ends
    with. Found here, before emphasis is parsed, so "…/__init__.py" stays one address."""
    start = state.pos
    if state.linkLevel > 0 or not state.src.startswith("://", start):
        return False
    found = SCHEME.search(state.pending[-6:])  # "https" and the character before it
    if not found:
        return False
    scheme = found.group(1)
    match = ADDRESS.match(state.src, start - len(scheme))
    address = trim(match.group()) if match else ""
    md = state.md
    href = md.normalizeLink(address)
    if not address.partition("://")[2] or not md.validateLink(href):
        return False
    if not silent:
        state.pending = state.pending[: -len(scheme)]
        opening = state.push("link_open", "a", 1)
        opening.attrs, opening.markup = {"href": href}, "linkify"
        state.push("text", "", 0).content = md.normalizeLinkText(address)
        state.push("link_close", "a", -1).markup = "linkify"
    state.pos += len(address) - len(scheme)
    return True
