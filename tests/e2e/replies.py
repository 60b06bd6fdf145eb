"""Replies known in advance, for tests that drive the page through a fake upstream
(tests/support/fake_openai.py behind the real serve.py): Markdown to render, and the XSS
corpus, each streamed split at random places so that half-finished constructs (an open
tag, half a link) are rendered on the way too."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from tests.e2e.xss_corpus import VECTORS
from tests.support.fake_openai import Reply

RICH_PROMPT = "Show me some Markdown."
RICH = """Here is **bold**, *em* and ~~gone~~.

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```

| Language | Typing |
| :--- | ---: |
| Python | dynamic |
| Rust | static |

Raw <b>tag</b> and <script>alert(1)</script> stay text, and [bad](javascript:alert(1)) is no
link, while [docs](https://docs.python.org/3/) is one, and so is https://peps.python.org/pep-0008/.
"""

# A reply whose half-written states render as something else than the finished one, each
# sent after a pause so that the page draws it: a paragraph that becomes a heading, text
# that becomes emphasis and then text again, list items that grow into a new list, text
# that becomes a link, a fence that closes (and is then highlighted). A page draws its
# first reply's first chunk late (one-time set-up), so that one is only an introduction.
GROWING_PROMPT = "Show me Markdown as it grows."
GROWING = [
    "Intro.\n\n",
    "Title\n",
    "--",
    "-\n\nx _a_",
    "b **c",
    "** d _e_",
    "f.\n\n- one\n- tw",
    "o\n\n1. three\n\n[docs](https://docs.python.org/3/",
    ") end.\n\n```python\nx = 1\n",
    "```\n",
]


# What a narrow screen must lay out without breaking words: a table wider than the
# bubble, an empty code block and a line longer than any screen.
WIDE_PROMPT = "Show me a wide table."
WIDE = (
    "| " + " | ".join(f"Column {c}" for c in "ABCDEFGH") + " |\n"
    "|" + "---|" * 8 + "\n"
    "| " + " | ".join(["a very long cell value here"] * 8) + " |\n\n"
    "```\n```\n\n"
    '```js\nconst veryLongLine = "' + "a" * 300 + '";\n```\n'
)


# The upstream stops mid-reply: the text so far, then the connection closes.
CUT_PROMPT = "Start an answer and stop."
CUT_TEXT = "The capital of France is"


def chunked(text: str, rng: random.Random) -> list[str]:
    """`text` cut at up to 12 random places (at least one, where it has two characters)."""
    if len(text) < 2:
        return [text]
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


# A reply that takes about 15 s, so that a test can act in another tab while it streams.
SLOW_PROMPT = "Answer slowly."
SLOW = [f"Part {i}. " for i in range(60)]

FACT = re.compile(r"The secret word is (\w+)\.")
FOUNDRY_SAYS = "Foundry's fake model answered this."


def script(request: dict[str, Any]) -> Reply:
    """Rendering tests ask for RICH or a corpus vector, tests of two tabs for a slow reply;
    routing and attachment tests get the secret word from wherever it is in the request (so
    the answer shows the file's text reached the server), or a fixed sentence."""
    prompt = str(request["messages"][-1]["content"])
    if prompt == RICH_PROMPT:
        return Reply(chunked(RICH, random.Random(prompt)))
    if prompt == CUT_PROMPT:
        return Reply([CUT_TEXT], cut=True)
    if prompt == WIDE_PROMPT:
        return Reply([WIDE])
    if prompt == GROWING_PROMPT:
        return Reply(GROWING, pause_s=0.2)
    if prompt == SLOW_PROMPT:
        return Reply(SLOW, pause_s=0.25)
    if prompt.startswith("vector "):
        index = int(prompt.removeprefix("vector "))
        return Reply(chunked(VECTORS[index], random.Random(index)))
    fact = FACT.search(json.dumps(request["messages"]))
    if "secret word" in prompt and fact:
        return Reply(["The secret word ", f"is {fact.group(1)}."])
    return Reply([FOUNDRY_SAYS])
