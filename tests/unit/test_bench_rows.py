"""The benchmark's transformers.js folder is made from the cached reference export; making
it must leave that export loadable by onnx (which refuses external data with hard links)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bench.rows import transformers_js_folder


def test_the_transformers_js_folder_leaves_the_reference_loadable(tmp_path: Path) -> None:
    reference, hf = tmp_path / "reference", tmp_path / "hf"
    reference.mkdir()
    hf.mkdir()
    weight = numpy_helper.from_array(np.arange(2048, dtype=np.float32), "w")
    past = helper.make_tensor_value_info(
        "past_key_values.0.key", TensorProto.FLOAT, ["b", 3, "s", "kv_cache_dim"]
    )
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2048])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])], "g", [past], [out], [weight]
    )
    onnx.save_model(
        helper.make_model(graph),
        str(reference / "model.onnx"),
        save_as_external_data=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (reference / name).write_text("{}")
    (hf / "config.json").write_text(json.dumps({"head_dim": 64}))
    (hf / "generation_config.json").write_text("{}")

    folder = transformers_js_folder(reference, hf, tmp_path / "tjs")

    for model in (reference / "model.onnx", folder / "onnx" / "model.onnx"):
        loaded = onnx.load(str(model))  # raises on a hard-linked data file
        assert np.array_equal(numpy_helper.to_array(loaded.graph.initializer[0]), np.arange(2048))
    head = onnx.load(str(folder / "onnx" / "model.onnx"), load_external_data=False)
    assert head.graph.input[0].type.tensor_type.shape.dim[3].dim_value == 64
