"""The LM head's weight kept from ONNX Runtime's prepacking (hearth_build/model/head.py), on
a small graph run by onnxruntime before and after the rewrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from hearth_build.model.head import unpacked_head

HIDDEN, VOCAB = 4, 10


def headed() -> onnx.ModelProto:
    """logits = hidden @ W, named as add_topk_head names the head's product."""
    weight = np.random.default_rng(0).standard_normal((HIDDEN, VOCAB)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["hidden", "W"], ["hearth.last_logits"])],
        "headed",
        [
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [1, HIDDEN]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "total"]),
        ],
        [helper.make_tensor_value_info("hearth.last_logits", TensorProto.FLOAT, [1, VOCAB])],
        [numpy_helper.from_array(weight, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_heads_weight_is_no_constant_after_onnx_runtime_optimises_the_graph(
    tmp_path: Path,
) -> None:
    feeds = {
        "hidden": np.arange(HIDDEN, dtype=np.float32)[None],
        "attention_mask": np.ones((1, 7), np.int64),
    }
    before = ort.InferenceSession(headed().SerializeToString()).run(None, feeds)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    session = ort.InferenceSession(unpacked_head(headed()).SerializeToString(), options)
    # the same product, summed in another order by the unpacked kernel: 1 ulp apart at most
    np.testing.assert_allclose(session.run(None, feeds)[0], before[0], rtol=3e-7, atol=0)
    # what ORT made of it: the MatMul's weight is still computed at run time, so there is
    # no constant for its kernels to pack when the session opens
    optimized = onnx.load(str(tmp_path / "optimized.onnx")).graph
    constants = {i.name for i in optimized.initializer}
    (head,) = [n for n in optimized.node if "hearth.last_logits" in n.output]
    assert head.input[1] not in constants and "W" in constants


def test_a_graph_whose_head_is_not_the_last_positions_product_is_left() -> None:
    model = headed()
    model.graph.node[0].output[0] = model.graph.output[0].name = "logits"
    expected = model.SerializeToString()
    assert unpacked_head(model).SerializeToString() == expected
