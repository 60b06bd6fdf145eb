"""Turn a model source into the page's ORT GenAI folder, cached by its inputs.

Sources (`build.py --model PATH`), each first exported as an fp32 ORT GenAI folder:
- a GGUF file: a llama GGUF with a byte-level BPE tokenizer, such as the default model, by
  the direct converter (`gguf_export`: gguf, numpy and onnx, the `convert` extra). Any other
  GGUF goes the heavy way below when the `convert-hf` extra is installed, and is refused in
  one line, naming that extra, when it is not;
- a Hugging Face folder (config.json + weights): the heavy way, `builder` (transformers and
  the ORT GenAI model builder, the `convert-hf` extra);
- an ORT GenAI folder (genai_config.json + model.onnx), e.g. from Foundry Local's cache:
  used as it is.
`blocks` then re-encodes the fp32 weights for the page (lossless for GGUF Q4_1/Q8_0 weights).

The output lives in `<cache>/models/<key>/`, where the key hashes the source and the
converter (this package's sources, the versions of the tools it ran, which one it was), so
a rerun is a lookup and a changed converter writes a new entry.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hearth_build.console import BuildError, detail
from hearth_build.files import sha256_file
from hearth_build.model.genai import TOKENIZER
from hearth_build.vendor import PyPIPin, fetch_pinned

if TYPE_CHECKING:
    from hearth_build.model.gguf_reader import GGUFModel

SUPPORTED = (
    "supported: a .gguf file, a Hugging Face model folder (config.json + *.safetensors/*.bin), "
    "or an ORT GenAI folder (genai_config.json + model.onnx)"
)
GENAI_FILES = (
    "genai_config.json",
    TOKENIZER,
    "tokenizer_config.json",
    "chat_template.jinja",
)
INFO = "hearth-model.json"
PACKAGE = Path(__file__).parent


class Converter(Enum):
    """Who writes the fp32 export, each with the pip extra that installs its tools."""

    DIRECT = "direct"  # gguf_export: gguf, numpy and onnx
    BUILDER = "builder"  # builder: transformers and the ORT GenAI model builder

    @property
    def tools(self) -> tuple[str, ...]:
        direct = ("gguf", "numpy", "onnx")
        if self is Converter.DIRECT:
            return direct
        return (*direct, "torch", "transformers", "onnx-ir", "onnxruntime-genai")

    @property
    def extra(self) -> str:
        return "convert" if self is Converter.DIRECT else "convert-hf"

    def missing(self) -> list[str]:
        return [tool for tool in self.tools if _version(tool) is None]

    def require(self) -> None:
        missing = self.missing()
        if missing:
            raise BuildError(
                f"converting the model needs {', '.join(missing)}: run "
                f"`.venv/bin/pip install -e '.[{self.extra}]'` and use .venv/bin/python."
            )


@dataclass(frozen=True)
class ModelSource:
    """Where the default model comes from: a file inside a pinned PyPI wheel."""

    pin: PyPIPin
    member: str


def source_kind(path: Path) -> str:
    """'gguf', 'hf' or 'genai'; anything else is a one-line BuildError."""
    if path.is_file() and path.suffix == ".gguf":
        return "gguf"
    if path.is_dir() and (path / "genai_config.json").exists() and (path / "model.onnx").exists():
        return "genai"
    if path.is_dir() and (path / "config.json").exists():
        if any(path.glob("*.safetensors")) or any(path.glob("*.bin")):
            return "hf"
    raise BuildError(f"--model {path}: not a model this build understands; {SUPPORTED}.")


def default_gguf(source: ModelSource, cache: Path) -> Path:
    """Extract the default GGUF from its pinned wheel (downloaded once into the cache)."""
    target = cache / "sources" / Path(source.member).name
    if target.exists():
        return target
    wheel = fetch_pinned(source.pin, cache / "wheels")
    detail(f"extracting {source.member} from {wheel.name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as src:
        tmp = target.with_suffix(".part")
        with tmp.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    tmp.replace(target)
    return target


def _version(tool: str) -> str | None:
    try:
        return metadata.version(tool)
    except metadata.PackageNotFoundError:
        return None


def converter_fingerprint(converter: Converter) -> str:
    """Hash of what determines the output besides the source: every module of this package
    (all of them, so no list of "converter files" can go stale), the versions of the tools
    this converter runs, and which converter it is."""
    digest = hashlib.sha256(converter.value.encode())
    for module in sorted(PACKAGE.glob("*.py")):
        digest.update(f"{module.name}:{hashlib.sha256(module.read_bytes()).hexdigest()}".encode())
    for tool in converter.tools:
        digest.update(f"{tool}=={_version(tool)}".encode())
    return digest.hexdigest()


def source_fingerprint(path: Path) -> str:
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}:{sha256_file(file)}".encode())
    return digest.hexdigest()


def cache_key(source_hash: str, converter: Converter, forced: bool) -> str:
    """A forced conversion gets keys of its own, so that the automatic choice never finds
    the builder's export of a GGUF the direct converter covers."""
    parts = f"{source_hash}:{converter_fingerprint(converter)}:{'forced' if forced else 'auto'}"
    return hashlib.sha256(parts.encode()).hexdigest()[:16]


def choose_converter(gguf: GGUFModel, builder_installed: bool) -> Converter:
    """The direct converter when it covers the file, else the builder if it is installed."""
    gap = gguf.gap()
    if gap is None:
        return Converter.DIRECT
    if not builder_installed:
        raise BuildError(
            f"--model {gguf.path}: the built-in converter does not cover its {gap}; install "
            f"the full converter (torch, transformers, onnxruntime-genai) with "
            f"`.venv/bin/pip install -e '.[{Converter.BUILDER.extra}]'` and rerun."
        )
    detail(f"{gap}: not covered by the direct converter, so transformers + the builder it is")
    return Converter.BUILDER


def converter_for(
    source: Path, kind: str, force_builder: bool
) -> tuple[Converter, GGUFModel | None]:
    """Who converts `source`, checked to be installed, and the GGUF opened for the direct
    converter (None for the builder, which reads the file itself)."""
    if force_builder or kind == "hf":
        Converter.BUILDER.require()
        return Converter.BUILDER, None
    Converter.DIRECT.require()  # reading the GGUF needs `gguf`, whoever converts it
    from hearth_build.model.gguf_reader import GGUFModel

    gguf = GGUFModel(source)
    if choose_converter(gguf, not Converter.BUILDER.missing()) is Converter.BUILDER:
        return Converter.BUILDER, None
    return Converter.DIRECT, gguf


def convert(
    source: Path, kind: str, gguf: GGUFModel | None, work: Path, out: Path
) -> dict[str, int]:
    """Export fp32 into `work/fp32` (directly from `gguf` when given, else with the builder),
    then write the page's folder in `out`; returns how many weights got each encoding."""
    from hearth_build.model.blocks import compress_model
    from hearth_build.model.head import page_graph_files

    fp32 = work / "fp32"
    if gguf is not None:
        from hearth_build.model.gguf_export import export_gguf

        detail("exporting fp32 ONNX from the GGUF (direct converter)")
        export_gguf(gguf, fp32)
    else:
        from hearth_build.model.builder import export_with_builder

        export_with_builder(source, kind, work, fp32)
    detail("re-encoding weights as GGUF-style blocks")
    out.mkdir(parents=True)
    counts = compress_model(fp32 / "model.onnx", out / "model.onnx")
    for name in GENAI_FILES:
        if (fp32 / name).exists():
            shutil.copy2(fp32 / name, out / name)
    for name, data in page_graph_files(out / "model.onnx").items():
        (out / name).write_bytes(data)
    return dict(counts)


def prepare_model(
    source: Path, cache: Path, rebuild: bool, force_builder: bool = False
) -> tuple[Path, dict[str, Any]]:
    """The page's model folder for `source`, converting only on a cache miss.

    The fp32 export is kept beside it (`<key>/reference/`): the quality gate and the
    benchmark compare the page's format against it. `force_builder` converts with the
    builder even what the direct converter covers (the golden test compares the two).
    """
    kind = source_kind(source)
    if kind == "genai":
        detail(f"using ORT GenAI folder {source} as it is")
        key = source_fingerprint(source)[:16]
        return source, {"source": source.name, "kind": kind, "key": key, "encodings": {}}
    source_hash = source_fingerprint(source)
    # Which converter a GGUF gets is known only once it is read (seconds: its whole
    # vocabulary), but each converter's key is known now. It follows from the file and this
    # package's sources, both in the key, so at most one of the two entries exists.
    candidates = [Converter.BUILDER] if force_builder or kind == "hf" else list(Converter)
    folders = {c: cache / "models" / cache_key(source_hash, c, force_builder) for c in candidates}
    for folder in folders.values():
        if rebuild:
            shutil.rmtree(folder, ignore_errors=True)
        if (folder / INFO).exists():
            detail(f"model cache hit: {folder}")
            return folder / "page", json.loads((folder / INFO).read_text())

    converter, gguf = converter_for(source, kind, force_builder)
    folder = folders[converter]
    drop_outdated(cache / "models", source_hash, force_builder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        work = Path(tmp)
        counts = convert(source, kind, gguf, work, folder / "page")
        shutil.move(str(work / "fp32"), folder / "reference")
    info = {
        "source": source.name,
        "source_sha256": source_hash,
        "kind": kind,
        "converter": converter.value,
        "forced": force_builder,
        "key": folder.name,
        "encodings": counts,
    }
    (folder / INFO).write_text(json.dumps(info, indent=1, sort_keys=True))
    return folder / "page", info


def drop_outdated(models: Path, source_hash: str, forced: bool) -> None:
    """Remove cached conversions of the same source made by an older converter (~600 MB
    each); forced and automatic conversions are kept apart, as their keys are."""
    for info_file in models.glob(f"*/{INFO}"):
        info = json.loads(info_file.read_text())
        if info.get("source_sha256") == source_hash and info.get("forced", False) == forced:
            detail(f"removing outdated conversion {info_file.parent.name}")
            shutil.rmtree(info_file.parent)
