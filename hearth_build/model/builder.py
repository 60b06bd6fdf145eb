"""The heavy converter: transformers and the ORT GenAI model builder (`pip install -e
'.[convert-hf]'`, about 1.7 GB with torch).

The build needs it only for what the direct converter does not cover: Hugging Face folders
and GGUFs of other architectures. The int4 export (MatMulNBits) that the Foundry benchmark
rows compare with is the builder's too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hearth_build.console import BuildError, detail


def dequantize_gguf(gguf: Path, out: Path) -> None:
    """GGUF -> fp32 Hugging Face folder. transformers refuses `save_pretrained` on a
    quantised load until the quantizer and its config are cleared."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    model.hf_quantizer = None
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


def export_with_builder(source: Path, kind: str, workdir: Path, out: Path) -> None:
    """The fp32 ORT GenAI folder for a GGUF file or a Hugging Face folder, in `out`."""
    hf_dir = source
    if kind == "gguf":
        detail("dequantising GGUF to fp32 (transformers)")
        hf_dir = workdir / "hf"
        dequantize_gguf(source, hf_dir)
    detail("exporting fp32 ONNX (onnxruntime-genai model builder)")
    run_builder(hf_dir, out, "fp32", "cpu", workdir / "builder.log")
