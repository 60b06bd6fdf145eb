"""Running notebooks/hearth.ipynb as a reader would, in a kernel of this very venv.

The kernelspec is written to a temporary folder, so the kernel is always this Python (not
whatever `python3` kernel a user directory holds). The kernel's connection file and IPython's
profile go there too, so a test run writes nothing into the home directory or the repo.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode

from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "hearth.ipynb"
KERNEL = "hearth-venv"
CELL_TIMEOUT_S = 600


def kernel_manager(home: Path) -> AsyncKernelManager:
    """A kernel manager that can only find a kernelspec running `sys.executable`."""
    spec = home / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Hearth venv", "language": "python"})
    )
    specs = KernelSpecManager(kernel_dirs=[str(home / "kernels")], ensure_native_kernel=False)
    return AsyncKernelManager(
        kernel_name=KERNEL,
        kernel_spec_manager=specs,
        connection_file=str(home / "connection.json"),
    )


def execute(home: Path, env: Mapping[str, str]) -> NotebookNode:
    """Run every cell; `env` is added to this process's environment, without FOUNDRY_URL
    or FOUNDRY_MODEL unless `env` sets them. Raises CellExecutionError if a cell fails."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    inherited = {k: v for k, v in os.environ.items() if k not in ("FOUNDRY_URL", "FOUNDRY_MODEL")}
    private = {name: str(home / name.lower()) for name in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR")}
    client = NotebookClient(
        notebook,
        km=kernel_manager(home),
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env={**inherited, **private, **env})
    return notebook


def tagged(notebook: NotebookNode, tag: str) -> NotebookNode:
    """The one cell carrying `tag` (the tests find cells by tag, not by position)."""
    [cell] = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return cell


def stdout(cell: NotebookNode) -> list[str]:
    """The cell's printed text, one item per message the kernel sent (a streamed reply
    arrives in many)."""
    return [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"]
