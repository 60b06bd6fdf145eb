"""The notebook's Foundry Local part against the real runtime: found through FOUNDRY_URL, it
continues the notebook's chat with a streamed reply."""

from __future__ import annotations

from pathlib import Path

from tests.foundry.local import Foundry
from tests.notebook import execute, stdout, tagged


def test_the_notebook_streams_a_reply_from_foundry_local(
    foundry: Foundry, dist: Path, tmp_path: Path
) -> None:
    env = {
        "HEARTH_DIST": str(dist),
        "FOUNDRY_URL": foundry.base + "/v1",
        "FOUNDRY_MODEL": foundry.model,
    }
    printed = stdout(tagged(execute(tmp_path, env), "foundry"))

    header, *streamed = printed
    assert header.startswith(f"{foundry.model} at {foundry.base}/v1/ continues the same chat")
    at = next(i for i, text in enumerate(streamed) if "Ready · Foundry Local" in text)
    reply = "".join(streamed[:at]) + streamed[at].split("Ready")[0]
    assert reply.strip(), printed
    assert at >= 2, f"the reply came in {at} message(s), so it was not streamed: {printed}"
    assert "TTFT" in streamed[at], streamed[at]
