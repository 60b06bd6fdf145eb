"""The build→page contract: what `build.py` writes into `app-config.json`, typed.

The build writes these dataclasses with `to_json()` and the page parses them once with
`from_json()`, so a field renamed on one side fails loudly in one place (and in the tests)
instead of as a `KeyError` deep in the boot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class ExecutionProvider(StrEnum):
    """Where ONNX Runtime Web runs the model in the page."""

    WEBGPU = "webgpu"
    WASM = "wasm"


@dataclass(frozen=True)
class ModelShape:
    """What a decoding loop must know: KV-cache geometry, stop ids, context and vocab size."""

    layers: int
    kv_heads: int
    head_size: int
    eos: tuple[int, ...]
    context_length: int
    vocab_size: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelShape:
        return cls(
            layers=int(data["layers"]),
            kv_heads=int(data["kv_heads"]),
            head_size=int(data["head_size"]),
            eos=tuple(int(i) for i in data["eos"]),
            context_length=int(data["context_length"]),
            vocab_size=int(data["vocab_size"]),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["eos"] = list(self.eos)
        return data


@dataclass(frozen=True)
class ChatSpec:
    """The model's own chat template (Jinja source) and the special tokens it refers to."""

    template: str
    special_tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatSpec:
        tokens = data.get("special_tokens") or {}
        return cls(str(data["template"]), {str(k): str(v) for k, v in tokens.items()})

    def to_json(self) -> dict[str, Any]:
        return {"template": self.template, "special_tokens": dict(self.special_tokens)}


@dataclass(frozen=True)
class ModelEntry:
    """One model shipped in `dist/models/`: where its files are and how to run it."""

    id: str
    label: str
    path: str  # folder relative to the page, ending in "/"
    graph: str  # the page's graph file in that folder
    tokenizer: str  # its Hugging Face `tokenizer.json`, which Python reads itself
    data: tuple[str, ...]  # external-data files the graph needs
    files: tuple[str, ...]  # every file shipped for the model
    bytes: int
    shape: ModelShape
    chat: ChatSpec
    # the recipe for the fp32 weights the page rebuilds (hearth_build/model/page_weights.py)
    weights: str | None = None

    @property
    def session_files(self) -> tuple[str, ...]:
        """The files the page's session is built from (Python reads the tokenizer itself;
        the rest of `files` the page never reads)."""
        return (self.graph, *self.data, *((self.weights,) if self.weights else ()))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelEntry:
        return cls(
            id=str(data["id"]),
            label=str(data["label"]),
            path=str(data["path"]),
            graph=str(data["graph"]),
            tokenizer=str(data["tokenizer"]),
            data=tuple(str(d) for d in data["data"]),
            files=tuple(str(f) for f in data["files"]),
            bytes=int(data["bytes"]),
            shape=ModelShape.from_json(data["shape"]),
            chat=ChatSpec.from_json(data["chat"]),
            weights=str(data["weights"]) if data.get("weights") else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "path": self.path,
            "graph": self.graph,
            "tokenizer": self.tokenizer,
            "data": list(self.data),
            "files": list(self.files),
            "bytes": self.bytes,
            "shape": self.shape.to_json(),
            "chat": self.chat.to_json(),
            "weights": self.weights,
        }


@dataclass(frozen=True)
class AppConfig:
    """Everything the page needs to find at run time, relative to the page."""

    version: str
    vendor: dict[str, str]  # vendored package folders the page's JS loads (pyodide, dompurify)
    ort: dict[ExecutionProvider, str]  # ONNX Runtime Web module per execution provider
    models: tuple[ModelEntry, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppConfig:
        models = tuple(ModelEntry.from_json(m) for m in data["models"])
        if not models:
            raise ValueError("app-config.json lists no model")
        return cls(
            version=str(data["version"]),
            vendor={str(k): str(v) for k, v in data["vendor"].items()},
            ort={ExecutionProvider(k): str(v) for k, v in data["ort"].items()},
            models=models,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "vendor": dict(self.vendor),
            "ort": {ep.value: url for ep, url in self.ort.items()},
            "models": [m.to_json() for m in self.models],
        }

    def model(self, model_id: str | None) -> ModelEntry:
        """The model with this id, else the first (the default)."""
        return next((m for m in self.models if m.id == model_id), self.models[0])
