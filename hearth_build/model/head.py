"""`model.page.onnx`: the page's copy of the graph, ending in a TopK over the last position,
with prompts evaluated by plain attention (see `attention.py`).

ONNX Runtime Web would otherwise hand the page the full logits every step (49,152 floats a
token, and sequence x 49,152 after a prefill). With this head only the `TOP_K` best
logits and their ids leave the session, so Python samples from a few hundred bytes. The
head shares `model.onnx.data` with `model.onnx`, which stays as it is for native runtimes
(onnxruntime-genai, Foundry Local) that expect the `logits` output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

TOP_K = 64
PAGE_GRAPH = "model.page.onnx"

if TYPE_CHECKING:
    import onnx


def add_topk_head(model: onnx.ModelProto, k: int = TOP_K) -> onnx.ModelProto:
    """Replace the `logits` output by the TopK of the last position's logits.

    When `logits` comes straight from the LM head's MatMul (the builder's graphs), the last
    position is picked *before* that MatMul: a prompt of n tokens then multiplies one hidden
    state by the 49,152-column head instead of n of them (about a fifth of a prompt's work
    for SmolLM2-135M)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    (logits,) = [o for o in graph.output if o.name == "logits"]
    graph.output.remove(logits)
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(-1, np.int64), "hearth.last"),
            numpy_helper.from_array(np.array([k], np.int64), "hearth.k"),
        ]
    )
    (producer,) = [n for n in graph.node if "logits" in n.output]
    if producer.op_type == "MatMul":
        hidden, weight = producer.input
        graph.node.remove(producer)
        last = [
            helper.make_node("Gather", [hidden, "hearth.last"], ["hearth.last_hidden"], axis=1),
            helper.make_node("MatMul", ["hearth.last_hidden", weight], ["hearth.last_logits"]),
        ]
    else:
        last = [
            helper.make_node("Gather", ["logits", "hearth.last"], ["hearth.last_logits"], axis=1)
        ]
    graph.node.extend(
        [
            *last,
            helper.make_node(
                "TopK", ["hearth.last_logits", "hearth.k"], ["topk_values", "topk_indices"], axis=-1
            ),
        ]
    )
    graph.output.extend(
        [
            helper.make_tensor_value_info("topk_values", TensorProto.FLOAT, ["batch_size", k]),
            helper.make_tensor_value_info("topk_indices", TensorProto.INT64, ["batch_size", k]),
        ]
    )
    return model


def unpacked_head(model: onnx.ModelProto) -> onnx.ModelProto:
    """Hide the LM head's weight from ONNX Runtime's prepacking behind a Reshape to its own
    shape that only the running graph can compute (a Max with the attention mask's length
    times 0), which aliases the weight and costs nothing a step.

    ORT packs every constant MatMul weight for its GEMM kernels when it opens the model, 1 s
    of the page's session creation for 540 MB; the head alone is 113 MB of it. The head only
    ever multiplies one row (the last position, `add_topk_head`), which the kernels do as
    fast unpacked: in 6 interleaved warm reloads of each build (2026-12-06), ORT opened the
    session in 1.81 s against 2.00 s (medians), and decoding was as fast (13.5 against 12.7
    tok/s, faster in each of the 6 pairs)."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    heads = [n for n in graph.node if n.op_type == "MatMul" and n.output[0] == "hearth.last_logits"]
    if len(heads) != 1 or heads[0].input[1] not in weights:
        return model
    (head,) = heads
    weight = weights[head.input[1]]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(weight.dims, np.int64), "hearth.head_shape"),
            numpy_helper.from_array(np.array([0], np.int64), "hearth.zero"),
        ]
    )
    at = list(graph.node).index(head)
    for offset, node in enumerate(
        [
            helper.make_node("Shape", ["attention_mask"], ["hearth.total"], start=1, end=2),
            helper.make_node("Mul", ["hearth.total", "hearth.zero"], ["hearth.nothing"]),
            helper.make_node("Max", ["hearth.head_shape", "hearth.nothing"], ["hearth.head_dims"]),
            helper.make_node("Reshape", [head.input[1], "hearth.head_dims"], ["hearth.head_w"]),
        ]
    ):
        graph.node.insert(at + offset, node)
    head.input[1] = "hearth.head_w"
    return model


def page_graph_files(model_onnx: Path) -> dict[str, bytes]:
    """The page's graph (head-ed, the tied embedding read from the head's weight, prompt
    attention split, weights unpacked in the page) and, when it has weights to rebuild,
    their recipe (page_weights.py): file name -> bytes. The graph still points at the
    model's external data file."""
    import onnx

    from hearth_build.model.attention import split_prompt_attention
    from hearth_build.model.page_weights import RECIPE, unpack_graph
    from hearth_build.model.tied import gather_tied_rows

    model = onnx.load(str(model_onnx), load_external_data=False)
    recipe = unpack_graph(model)
    page = split_prompt_attention(unpacked_head(gather_tied_rows(add_topk_head(model))))
    files = {PAGE_GRAPH: page.SerializeToString()}
    if recipe.weights:
        files[RECIPE] = recipe.to_json().encode()
    return files
