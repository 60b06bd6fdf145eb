"""pyapp/browser/preload.py: what a Python snapshot carries must import in plain CPython,
so it holds no JavaScript object (a snapshot cannot), and must leave no reply's work cached."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

PROBE = """
import sys
from pyapp.browser import preload
preload.warm()
warmed = set(sys.modules)
from pygments.lexers import get_lexer_by_name
from pyapp.markdown import LANGUAGES, highlight
roots = {"js", "pyodide", "pyodide_js", "hearth_host"}
browser = sorted(m for m in warmed if m.split(".")[0] in roots)
lexers = sorted({type(get_lexer_by_name(name)).__module__ for name in LANGUAGES})
missing = [name for name in preload.MODULES + tuple(lexers) if name not in warmed]
print(browser, missing, highlight.cache_info().currsize, len(lexers))
"""


def test_warm_imports_the_app_and_every_highlighting_lexer_and_nothing_of_the_browser() -> None:
    # a fresh interpreter, so that what this test process imported already does not count
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out[:2] == ["[]", "[]"], out
    assert out[2] == "0"  # the lexers are imported; the sample replies' HTML is not kept
    assert int(out[3]) > 20
