"""The tied embedding read from the LM head's weight (hearth_build/model/tied.py), on small
graphs run by onnxruntime before and after the rewrite."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from hearth_build.model.tied import gather_tied_rows

HIDDEN, VOCAB = 4, 10


def tied(
    ids_shape: list[str | int] | None = None, head_reads_copy: bool = False
) -> onnx.ModelProto:
    """Embedding = Gather(Transpose(W), ids), logits = hidden @ W, as the builder ties them;
    `head_reads_copy`: the head multiplies by the transpose instead."""
    weight = np.random.default_rng(0).standard_normal((HIDDEN, VOCAB)).astype(np.float32)
    head = ["hidden", "copy"] if head_reads_copy else ["hidden", "W"]
    shape = [VOCAB, HIDDEN] if head_reads_copy else [1, HIDDEN]
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["W"], ["copy"], perm=[1, 0]),
            helper.make_node("Gather", ["copy", "ids"], ["embedded"]),
            helper.make_node("MatMul", head, ["logits"]),
        ],
        "tied",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ids_shape),
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, shape),
        ],
        [
            helper.make_tensor_value_info("embedded", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, None),
        ],
        [numpy_helper.from_array(weight, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, ids: np.ndarray, hidden: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"ids": ids, "hidden": hidden})  # type: ignore[return-value]


def test_the_embedding_picks_the_heads_columns_with_no_transposed_copy() -> None:
    ids = np.array([[3, 0, 9, 3]], np.int64)
    hidden = np.ones((1, HIDDEN), np.float32)
    before = run(tied(["batch", "sequence"]), ids, hidden)
    model = gather_tied_rows(tied(["batch", "sequence"]))
    # no transpose of the weight is left for ONNX Runtime to fold into a second constant
    assert not any(n.op_type == "Transpose" and n.input[0] == "W" for n in model.graph.node)
    gathers = [n for n in model.graph.node if n.op_type == "Gather"]
    assert [list(n.input) for n in gathers] == [["W", "ids"]]
    after = run(model, ids, hidden)
    assert after[0].shape == (1, 4, HIDDEN)
    for was, now in zip(before, after, strict=True):
        np.testing.assert_array_equal(was, now)  # the same floats, picked elsewhere


def test_a_transpose_used_for_more_than_rows_or_of_unknown_rank_is_left() -> None:
    for model in (tied(["batch", "sequence"], head_reads_copy=True), tied(None)):
        expected = model.SerializeToString()
        assert gather_tied_rows(model).SerializeToString() == expected
