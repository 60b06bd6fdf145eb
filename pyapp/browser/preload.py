"""What a memory snapshot of Python carries (hearth_build/snapshot_maker.mjs makes it at
build time, site/python.js restores it): the boot packages, installed, and the app's modules,
imported and warmed.

Everything here must leave no reference to a JavaScript object behind, since a snapshot
cannot carry one: so no `js`, `pyodide.ffi` or `hearth_host` (pyapp/browser/host.py), which
is imported only after the snapshot is restored.
"""

from __future__ import annotations

import importlib

# Installed into the snapshot with what they depend on; pyapp/browser/packages.py then
# does not load them again. main.py and local.py load the same names on a boot from scratch.
PACKAGES = ("jinja2", "markdown-it-py", "pygments")

MODULES = (
    "pyapp.app",
    "pyapp.config",
    "pyapp.library",
    "pyapp.markdown",
    "pyapp.settings",
    "pyapp.status",
    "pyapp.templates",
    "pyapp.tokenizer",
    "pyapp.view",
    "jinja2",
    "jinja2.ext",
    "jinja2.sandbox",
    "markdown_it",
    "pygments.formatters",
    "pygments.lexers",
)


def warm() -> None:
    """Import the modules, and the lexers Markdown highlights with (Pygments imports each
    lexer the first time it is asked for), so that neither costs a restored page anything."""
    for name in MODULES:
        importlib.import_module(name)
    from pyapp.markdown import LANGUAGES, Markdown, highlight

    markdown = Markdown()
    for language in sorted(LANGUAGES):
        markdown.blocks(f"```{language}\nx = 1\n```\n")
    highlight.cache_clear()
