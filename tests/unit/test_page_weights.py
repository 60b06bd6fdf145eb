"""The page's weights, rebuilt outside ONNX Runtime (hearth_build/model/page_weights.py and
site/weights.js): the graph that reads them computes bit for bit what the folded graph did,
and the JS rebuild (site/weights.js over site/dequant.wat) equals the numpy one, for every
encoding and row lengths that exercise each loop's SIMD part and its remainder."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from hearth_build.model.blocks import compress_model
from hearth_build.model.page_weights import (
    RECIPE,
    SOURCE,
    UNPACKED,
    WeightsRecipe,
    unpack,
    unpack_graph,
)
from hearth_build.pack import compile_wat
from tests.conftest import ROOT
from tests.unit.test_blocks import q4_1_weights, q8_0_weights

RNG = np.random.default_rng(7)
# name -> weight: one of each encoding, Q4_1 with an odd number of columns (a row's nibbles
# then start mid-byte) and an even one that is not a multiple of 16 (the WebAssembly loops
# do 16 at a time, then the rest of the row one by one), INT8 likewise for its 8 at a time,
# and a small weight that stays fp32
WEIGHTS = {
    "a": q4_1_weights(256, 321),
    "b": q8_0_weights(128, 512),
    "c": RNG.normal(0, 0.02, (96, 700)).astype(np.float32),  # INT8, per column
    "d": q4_1_weights(32, 64),
    "e": q4_1_weights(64, 1032),
}
SHAPES = {name: w.shape for name, w in WEIGHTS.items()}


def chain_model() -> onnx.ModelProto:
    """x -> MatMul a -> slice to 128 -> MatMul b -> ... : every weight on the path to y."""
    nodes = [
        helper.make_node("MatMul", ["x", "a"], ["ya"]),
        helper.make_node("Slice", ["ya", "zero", "k128", "last"], ["xa"]),
        helper.make_node("MatMul", ["xa", "b"], ["yb"]),
        helper.make_node("Slice", ["yb", "zero", "k96", "last"], ["xb"]),
        helper.make_node("MatMul", ["xb", "c"], ["yc"]),
        helper.make_node("Slice", ["yc", "zero", "k32", "last"], ["xc"]),
        helper.make_node("MatMul", ["xc", "d"], ["yd"]),
        helper.make_node("MatMul", ["yd", "e"], ["y"]),
    ]
    consts = {
        "zero": [0],
        "k128": [128],
        "k96": [96],
        "k32": [32],
        "last": [-1],
    }
    inits = [numpy_helper.from_array(w, name) for name, w in WEIGHTS.items()]
    inits += [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in consts.items()]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1032])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The blocks model (model.onnx + model.onnx.data) and the page's graph and recipe."""
    out = tmp_path_factory.mktemp("page-weights")
    onnx.save_model(chain_model(), str(out / "fp32.onnx"))
    counts = compress_model(out / "fp32.onnx", out / "model.onnx")
    assert counts == {"Q4_1": 2, "Q8_0": 1, "INT8": 1}  # "d" is too small to encode
    page = onnx.load(str(out / "model.onnx"), load_external_data=False)
    recipe = unpack_graph(page)
    onnx.save_model(page, str(out / "page.onnx"))
    (out / RECIPE).write_text(recipe.to_json())
    return out


def session(path: Path, memory: dict[str, bytes] | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    if memory:
        options.add_external_initializers_from_files_in_memory(
            list(memory), list(memory.values()), [len(b) for b in memory.values()]
        )
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_the_recipe_covers_every_encoded_weight_and_the_graph_keeps_no_prologue(
    folder: Path,
) -> None:
    recipe = WeightsRecipe.from_json((folder / RECIPE).read_text())
    got = {(w.name, w.encoding, w.rows, w.cols) for w in recipe.weights}
    assert got == {
        ("a", "Q4_1", 256, 321),
        ("b", "Q8_0", 128, 512),
        ("c", "INT8", 96, 700),
        ("e", "Q4_1", 64, 1032),
    }
    graph = onnx.load(str(folder / "page.onnx"), load_external_data=False).graph
    assert [n.op_type for n in graph.node] == ["MatMul", "Slice"] * 3 + ["MatMul"] * 2
    places = {
        i.name: {e.key: e.value for e in i.external_data}["location"]
        for i in graph.initializer
        if i.data_location == TensorProto.EXTERNAL
    }
    assert places == {"a": UNPACKED, "b": UNPACKED, "c": UNPACKED, "d": SOURCE, "e": UNPACKED}
    # each weight starts on a cache line of the rebuilt file, and none overlap
    spans = sorted((w.offset, w.offset + w.nbytes) for w in recipe.weights)
    assert all(start % 64 == 0 for start, _ in spans)
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:], strict=False))


def test_the_rebuilt_graph_computes_bit_for_bit_what_the_folded_one_did(folder: Path) -> None:
    recipe = WeightsRecipe.from_json((folder / RECIPE).read_text())
    source = (folder / SOURCE).read_bytes()
    folded = session(folder / "model.onnx")
    rebuilt = session(
        folder / "page.onnx", {SOURCE: source, UNPACKED: bytes(unpack(recipe, source))}
    )
    for _ in range(3):
        x = RNG.normal(0, 1, (1, 256)).astype(np.float32)
        expected = folded.run(None, {"x": x})[0]
        np.testing.assert_array_equal(rebuilt.run(None, {"x": x})[0], expected)


def test_the_rebuilt_weights_are_the_original_gguf_values(folder: Path) -> None:
    """Q4_1 and Q8_0 are exact encodings: rebuilding gives back the very weights."""
    recipe = WeightsRecipe.from_json((folder / RECIPE).read_text())
    data = unpack(recipe, (folder / SOURCE).read_bytes())
    for w in recipe.weights:
        values = np.frombuffer(data, np.float32, w.rows * w.cols, w.offset).reshape(SHAPES[w.name])
        if w.encoding == "INT8":
            np.testing.assert_allclose(values, WEIGHTS[w.name], atol=2e-3)
        else:
            np.testing.assert_array_equal(values.view(np.uint32), WEIGHTS[w.name].view(np.uint32))


NODE_SCRIPT = """
import { readFileSync, writeFileSync } from "node:fs";
import { kernels, unpack, unpacked } from "./weights.mjs";
const [recipePath, sourcePath, outPath, wasmPath] = process.argv.slice(2);
const recipe = JSON.parse(readFileSync(recipePath, "utf8"));
const source = new Uint8Array(readFileSync(sourcePath));
const loops = await kernels(readFileSync(wasmPath));
const whole = unpack(recipe, source, loops);
writeFileSync(outPath, whole);
// the lazy file ORT's loader reads: each whole weight, as unpack() has it; nothing else
const lazy = unpacked(recipe, source, loops);
const same = recipe.weights.every((w) => {
  const part = lazy.subarray(w.offset, w.offset + w.rows * w.cols * 4);
  const want = whole.subarray(w.offset, w.offset + part.length);
  return Buffer.compare(Buffer.from(part), Buffer.from(want)) === 0;
});
let refused = false;
try { lazy.subarray(1, 9); } catch { refused = true; }
console.log(JSON.stringify({ byteLength: lazy.byteLength, same, refused }));
"""


def test_site_weights_js_rebuilds_the_same_bytes(folder: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (the build needs it too)"
    shutil.copy(ROOT / "site" / "weights.js", tmp_path / "weights.mjs")
    (tmp_path / "dequant.wasm").write_bytes(compile_wat(ROOT, ROOT / "site" / "dequant.wat"))
    (tmp_path / "run.mjs").write_text(NODE_SCRIPT)
    recipe = WeightsRecipe.from_json((folder / RECIPE).read_text())
    out = tmp_path / "rebuilt"
    result = subprocess.run(
        [node, "run.mjs", str(folder / RECIPE), str(folder / SOURCE), str(out), "dequant.wasm"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    expected = unpack(recipe, (folder / SOURCE).read_bytes())
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(expected).digest()
    assert json.loads(result.stdout) == {"byteLength": recipe.bytes, "same": True, "refused": True}


def test_a_prologue_with_inline_parts_is_left_for_onnx_runtime_to_fold(tmp_path: Path) -> None:
    """A tiny model's scales can be stored in the graph rather than the data file: such a
    weight keeps its prologue (ORT folds it at load, as before)."""
    onnx.save_model(chain_model(), str(tmp_path / "fp32.onnx"))
    compress_model(tmp_path / "fp32.onnx", tmp_path / "model.onnx")
    page = onnx.load(str(tmp_path / "model.onnx"), load_external_data=False)
    for init in page.graph.initializer:
        if init.name == "b.d":  # b's scales, moved inline
            data = np.frombuffer(
                (tmp_path / SOURCE).read_bytes(),
                np.float16,
                int(np.prod(init.dims)),
                int({e.key: e.value for e in init.external_data}["offset"]),
            )
            init.CopyFrom(numpy_helper.from_array(data.reshape(tuple(init.dims)), init.name))
    recipe = unpack_graph(page)
    assert {w.name for w in recipe.weights} == {"a", "c", "e"}
    assert sum(n.op_type == "DequantizeLinear" for n in page.graph.node) == 1
