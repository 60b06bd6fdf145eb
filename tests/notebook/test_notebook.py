"""The educational notebook runs top to bottom on the real build and the real model, and the
repository keeps it without outputs."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from tests.notebook import NOTEBOOK, execute, stdout, tagged

SKIPPED = "Skipping Foundry Local: FOUNDRY_URL is not set"
DECODE = re.compile(r"decode: (\d+) tokens at (\d+\.\d) tok/s")
PREFILL = re.compile(r"prefill: (\d+) tokens in \d+\.\d+ s \((\d+) tok/s\)")
CACHED = re.compile(r"The prefill evaluated (\d+) of them; the other (\d+) came from the cache")


@pytest.mark.model
def test_notebook_streams_a_reply_reuses_the_cache_and_skips_foundry(
    dist: Path, tmp_path: Path
) -> None:
    notebook = execute(tmp_path, {"HEARTH_DIST": str(dist)})

    printed = stdout(tagged(notebook, "generate"))
    at = next(i for i, text in enumerate(printed) if "prefill:" in text)
    reply = "".join(printed[:at]) + printed[at].split("prefill:")[0]
    assert reply.strip(), printed
    assert at >= 3, f"the reply came in {at} message(s), so it was not streamed: {printed}"
    figures = "".join(printed[at:])
    decode, prefill = DECODE.search(figures), PREFILL.search(figures)
    assert decode and prefill, figures
    assert int(decode.group(1)) > 1 and float(decode.group(2)) > 0
    assert int(prefill.group(1)) > 10 and int(prefill.group(2)) > 0

    second = "".join(stdout(tagged(notebook, "second-turn")))
    cached, prefill_2 = CACHED.search(second), PREFILL.search(second)
    assert cached and prefill_2, second
    evaluated, reused = int(cached.group(1)), int(cached.group(2))
    assert reused >= int(prefill.group(1)), "the whole first prompt should come from the cache"
    assert 0 < evaluated < reused and evaluated == int(prefill_2.group(1))

    foundry = "".join(stdout(tagged(notebook, "foundry")))
    assert foundry.startswith(SKIPPED) and foundry.count("\n") == 1, foundry


@pytest.mark.model
def test_a_missing_build_says_to_run_build_py(tmp_path: Path) -> None:
    with pytest.raises(CellExecutionError) as failed:
        execute(tmp_path, {"HEARTH_DIST": str(tmp_path / "no-dist")})
    # the error the reader sees (the exception's message carries the cell's source as well)
    assert "run `python build.py`" in failed.value.evalue, failed.value.evalue


@pytest.mark.unit
def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    left = [c.id for c in code if c.outputs or c.execution_count is not None]
    assert not left, f"clear the outputs of cells {left} before committing"
