"""Turn a model source into the page's ORT GenAI folder, cached by its inputs.

Sources (`build.py --model PATH`):
- a GGUF file: dequantised with transformers, exported with the ORT GenAI model builder
  (fp32), then re-encoded by `blocks` (lossless for GGUF Q4_1/Q8_0 weights);
- a Hugging Face folder (config.json + weights): builder fp32, then `blocks` (int8 fallback);
- an ORT GenAI folder (genai_config.json + model.onnx), e.g. from Foundry Local's cache:
  used as it is.

The output lives in `<cache>/models/<key>/`, where the key hashes the source and the
converter (this package's sources and the pinned tool versions), so a rerun is a lookup.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from hearth_build.console import BuildError, detail
from hearth_build.files import sha256_file
from hearth_build.vendor import PyPIPin, fetch_pinned

SUPPORTED = (
    "supported: a .gguf file, a Hugging Face model folder (config.json + *.safetensors/*.bin), "
    "or an ORT GenAI folder (genai_config.json + model.onnx)"
)
GENAI_FILES = (
    "genai_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)
CONVERTER_MODULES = ("convert.py", "blocks.py", "head.py", "attention.py")
TOOLS = ("torch", "transformers", "gguf", "onnx", "onnx-ir", "onnxruntime-genai")


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


def converter_fingerprint() -> str:
    """Hash of what determines the output besides the source: our code and tool versions."""
    digest = hashlib.sha256()
    for module in CONVERTER_MODULES:
        digest.update((Path(__file__).parent / module).read_bytes())
    for tool in TOOLS:
        try:
            digest.update(f"{tool}=={metadata.version(tool)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{tool}: missing".encode())
    return digest.hexdigest()


def source_fingerprint(path: Path) -> str:
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}:{sha256_file(file)}".encode())
    return digest.hexdigest()


def require_converter() -> None:
    missing = [tool for tool in TOOLS if _missing(tool)]
    if missing:
        raise BuildError(
            f"converting the model needs {', '.join(missing)}: "
            "run `.venv/bin/pip install -e '.[convert]'` and use .venv/bin/python."
        )


def _missing(tool: str) -> bool:
    try:
        metadata.version(tool)
    except metadata.PackageNotFoundError:
        return True
    return False


def dequantize_gguf(gguf: Path, out: Path) -> None:
    """GGUF -> fp32 Hugging Face folder. transformers refuses `save_pretrained` on a
    quantised load until the quantizer and its config are cleared."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def run_builder(hf_dir: Path, out: Path, precision: str, ep: str, log: Path) -> None:
    """The ORT GenAI model builder, in a subprocess (it is a CLI and prints a lot)."""
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder"]
    cmd += ["-i", str(hf_dir), "-o", str(out), "-p", precision, "-e", ep]
    cmd += ["-c", str(out.parent / "builder-cache")]
    with log.open("w") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
        raise BuildError(f"the ORT GenAI builder failed ({tail[0]}); full log: {log}")


def convert(source: Path, kind: str, workdir: Path, out: Path) -> dict[str, int]:
    """Produce the page's folder in `out`; returns how many weights got each encoding."""
    from hearth_build.model.blocks import compress_model
    from hearth_build.model.head import PAGE_GRAPH, page_graph_bytes

    hf_dir = source
    if kind == "gguf":
        detail("dequantising GGUF to fp32 (transformers)")
        hf_dir = workdir / "hf"
        dequantize_gguf(source, hf_dir)
    detail("exporting fp32 ONNX (onnxruntime-genai model builder)")
    fp32 = workdir / "fp32"
    run_builder(hf_dir, fp32, "fp32", "cpu", workdir / "builder.log")
    detail("re-encoding weights as GGUF-style blocks")
    out.mkdir(parents=True)
    counts = compress_model(fp32 / "model.onnx", out / "model.onnx")
    for name in GENAI_FILES:
        if (fp32 / name).exists():
            shutil.copy2(fp32 / name, out / name)
    (out / PAGE_GRAPH).write_bytes(page_graph_bytes(out / "model.onnx"))
    return dict(counts)


def prepare_model(source: Path, cache: Path, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """The page's model folder for `source`, converting only on a cache miss.

    The fp32 export is kept beside it (`<key>/reference/`): the quality gate and the
    benchmark compare the page's format against it.
    """
    kind = source_kind(source)
    if kind == "genai":
        detail(f"using ORT GenAI folder {source} as it is")
        key = source_fingerprint(source)[:16]
        return source, {"source": source.name, "kind": kind, "key": key, "encodings": {}}
    source_hash = source_fingerprint(source)
    key = hashlib.sha256(f"{source_hash}:{converter_fingerprint()}".encode()).hexdigest()[:16]
    folder = cache / "models" / key
    info_file = folder / "hearth-model.json"
    if rebuild and folder.exists():
        shutil.rmtree(folder)
    if info_file.exists():
        detail(f"model cache hit: {folder}")
        return folder / "page", json.loads(info_file.read_text())
    require_converter()
    drop_outdated(cache / "models", source_hash)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        work = Path(tmp)
        counts = convert(source, kind, work, folder / "page")
        shutil.move(str(work / "fp32"), folder / "reference")
    info = {
        "source": source.name,
        "source_sha256": source_hash,
        "kind": kind,
        "key": key,
        "encodings": counts,
    }
    info_file.write_text(json.dumps(info, indent=1, sort_keys=True))
    return folder / "page", info


def drop_outdated(models: Path, source_hash: str) -> None:
    """Remove cached conversions of the same source made by an older converter (~600 MB each)."""
    for info_file in models.glob("*/hearth-model.json"):
        if json.loads(info_file.read_text()).get("source_sha256") == source_hash:
            detail(f"removing outdated conversion {info_file.parent.name}")
            shutil.rmtree(info_file.parent)
