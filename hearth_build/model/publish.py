"""Place a prepared model folder into `dist/models/` and describe it for the page."""

from __future__ import annotations

import re
from pathlib import Path

from hearth_build.console import BuildError, detail
from hearth_build.files import sync_file, write_if_changed
from hearth_build.model.genai import TOKENIZER, read_shape
from hearth_build.model.head import PAGE_GRAPH
from hearth_build.model.page_weights import RECIPE
from pyapp.config import ChatSpec, ModelEntry
from pyapp.templates import ChatTemplate, TemplateError, chat_spec


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def publish_model(
    folder: Path, dist: Path, name: str, label: str, key: str
) -> tuple[list[Path], ModelEntry]:
    """Copy the model's files into a versioned folder (`models/<name>-<key>/`, served as
    immutable), add the page's TopK-headed graph, and describe the model for the page."""
    dest = dist / "models" / f"{slug(name)}-{key[:8]}"
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    written = []
    for src in files:
        sync_file(src, dest / src.name)
        written.append(dest / src.name)
    if not (folder / PAGE_GRAPH).exists():  # an ORT GenAI folder shipped as it is
        from hearth_build.model.head import page_graph_files

        for name, data in page_graph_files(folder / "model.onnx").items():
            write_if_changed(dest / name, data)
            written.append(dest / name)
    entry = ModelEntry(
        id=slug(name),
        label=label,
        path=dest.relative_to(dist).as_posix() + "/",
        graph=PAGE_GRAPH,
        tokenizer=TOKENIZER,
        data=tuple(p.name for p in files if p.name.startswith("model.onnx.")),
        files=tuple(sorted(p.name for p in written)),
        bytes=sum(p.stat().st_size for p in written),
        shape=read_shape(folder),
        chat=checked_chat_spec(folder),
        weights=RECIPE if (dest / RECIPE).exists() else None,
    )
    return written, entry


def checked_chat_spec(folder: Path) -> ChatSpec:
    """The model's chat template, compiled and probed now so a broken one fails the build
    rather than the page."""
    try:
        spec = chat_spec(folder)
        stops = ChatTemplate.from_spec(spec).stop_strings
    except TemplateError as error:
        raise BuildError(str(error)) from error
    detail(
        f"chat template: {len(spec['template'])} chars, turns end with {', '.join(stops) or '?'}"
    )
    return ChatSpec.from_json(spec)
