"""Prompt evaluation with plain ONNX attention in the page's graph.

ONNX Runtime Web's WASM kernel for `GroupQueryAttention` is fine for one new token but
scales badly with the prompt: measured in ORT Web 1.30 (2 threads), one layer's attention
over a 1,024-token prompt takes 683 ms, so 30 layers spend 20 s there, while the same
attention as MatMul/Softmax/MatMul (MLAS GEMMs) takes 70 ms a layer. For one new token the
fused kernel wins (it is one dispatch instead of a few dozen).

So the page's graph holds the transformer twice behind one `If` on "more than one new
token": the prompt branch computes attention with plain ops, the decode branch is the
original graph. Weights stay in the main graph, shared by both branches, so nothing is
stored twice, and decoding pays for one `If` per token rather than one per layer. Both
branches write the same present key/value cache (BNSH, rotated keys), so a reply can be
prefilled by one and continued by the other. Only the page's copy of the graph is
rewritten; `model.onnx` stays as ORT GenAI and Foundry Local expect it.

The plain branch assumes what the page always sends: batch 1 and an attention mask of
ones (no padding), so the mask is causal with the cached tokens in front.

The cache inputs may be capacity-sized buffers, as ORT GenAI's `past_present_share_buffer`
runs them: the attention mask says how many positions are real (its length is past + new),
and the page binds each buffer as both `past_key_values.*` and `present.*` (site/engine.js on
WASM). Then nothing is copied per token: `GroupQueryAttention` sees past and present share
memory and writes the new token's key/value in place, and the prompt branch writes its new
keys/values with `ScatterElements` and reads the cached prefix with a `Slice`. A cache with
no room left (the usual grow-by-concatenation caller, e.g. WebGPU and `NativeModel`) also
works: the prompt branch pads it to the new length first, which copies it once per prompt,
and `GroupQueryAttention` allocates a larger present.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

GQA = "GroupQueryAttention"
PREFIX = "hearth.attn"


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _supported(node: onnx.NodeProto) -> bool:
    """The variant the ORT GenAI builder writes: packed QKV, rotary inside, no extras."""
    attrs = _attributes(node)
    inputs = list(node.input) + [""] * (12 - len(node.input))
    return (
        attrs.get("do_rotary") == 1
        and attrs.get("rotary_interleaved", 0) == 0
        and attrs.get("local_window_size", -1) == -1
        and attrs.get("softcap", 0.0) == 0.0
        and inputs[1] == inputs[2] == ""
        and all(name == "" for name in inputs[9:])
    )


def _node(op: str, inputs: list[str], output: str, **attrs: Any) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=output, **attrs)


def _prompt_values(past_key: str, cos_cache: str, sin_cache: str) -> list[onnx.NodeProto]:
    """What every layer's plain attention shares, computed once in the prompt branch: the
    new tokens' positions, their rotary cos/sin, the causal mask, where their keys/values
    go in the cache and how much a cache without room must be padded."""
    p = f"{PREFIX}."

    def n(op: str, inputs: list[str], output: str, **attrs: Any) -> onnx.NodeProto:
        return _node(op, inputs, p + output, **attrs)

    return [
        n("Shape", ["attention_mask"], "total_len", start=1, end=2),
        n("Sub", [p + "total_len", p + "new_len"], "past_len"),
        n("Squeeze", [p + "past_len"], "past_scalar"),
        n("Squeeze", [p + "total_len"], "total_scalar"),
        n("Range", [p + "past_scalar", p + "total_scalar", p + "one_scalar"], "q_pos"),
        n("Range", [p + "zero_scalar", p + "total_scalar", p + "one_scalar"], "k_pos"),
        # causal mask [new, total]: key j is visible to query i when j <= past + i
        n("Unsqueeze", [p + "q_pos", p + "axis1"], "q_col"),
        n("Unsqueeze", [p + "k_pos", p + "axis0"], "k_row"),
        n("Greater", [p + "k_row", p + "q_col"], "future"),
        n("Where", [p + "future", p + "minus_inf", p + "zero_f"], "mask"),
        # rotary, half-split as GQA's rotary_interleaved=0: x*[cos,cos] + swap(x)*[-sin,sin]
        n("Gather", [cos_cache, p + "q_pos"], "cos_half"),
        n("Gather", [sin_cache, p + "q_pos"], "sin_half"),
        n("Concat", [p + "cos_half", p + "cos_half"], "cos", axis=-1),
        n("Neg", [p + "sin_half"], "sin_neg"),
        n("Concat", [p + "sin_neg", p + "sin_half"], "sin", axis=-1),
        # ScatterElements indices [1, kv, new, head]: position past + i for new token i
        n("Reshape", [p + "q_pos", p + "pos_shape"], "pos4"),
        n("Concat", [p + "batch_heads", p + "new_len", p + "head_dim"], "update_shape", axis=0),
        n("Expand", [p + "pos4", p + "update_shape"], "kv_index"),
        # pads for a cache shorter than past + new: [0]*6 + [max(total - capacity, 0), 0]
        n("Shape", [past_key], "capacity", start=2, end=3),
        n("Sub", [p + "total_len", p + "capacity"], "shortfall"),
        n("Max", [p + "shortfall", p + "zero"], "growth"),
        n("Concat", [p + "zeros6", p + "growth", p + "zero"], "pads", axis=0),
    ]


def _condition() -> list[onnx.NodeProto]:
    """`is_prompt`: more than one new token (a scalar, as `If` wants)."""
    p = f"{PREFIX}."
    return [
        _node("Shape", ["input_ids"], p + "new_len", start=1, end=2),
        _node("Greater", [p + "new_len", p + "one"], p + "prompt_1d"),
        _node("Squeeze", [p + "prompt_1d"], p + "is_prompt"),
    ]


def _constants(head_size: int, heads: int, kv_heads: int, scale: float) -> list[onnx.TensorProto]:
    half = head_size // 2
    swap = np.zeros((head_size, head_size), np.float32)  # x @ swap == concat(x2, x1)
    swap[np.arange(half) + half, np.arange(half)] = 1
    swap[np.arange(half), np.arange(half) + half] = 1
    group = heads // kv_heads
    values: dict[str, np.ndarray] = {
        "one": np.array([1], np.int64),
        "pos_shape": np.array([1, 1, -1, 1], np.int64),
        "batch_heads": np.array([1, kv_heads], np.int64),
        "head_dim": np.array([head_size], np.int64),
        "zero": np.array([0], np.int64),
        "zeros6": np.zeros(6, np.int64),
        "one_scalar": np.array(1, np.int64),
        "zero_scalar": np.array(0, np.int64),
        "axis0": np.array([0], np.int64),
        "axis1": np.array([1], np.int64),
        "axis2": np.array([2], np.int64),
        "minus_inf": np.array(-np.inf, np.float32),
        "zero_f": np.array(0, np.float32),
        "swap": swap,
        "scale": np.array(scale, np.float32),
        "split": np.array([heads, kv_heads, kv_heads], np.int64) * head_size,
        "q_shape": np.array([1, -1, heads, head_size], np.int64),
        "kv_shape": np.array([1, -1, kv_heads, head_size], np.int64),
        "group_shape": np.array([1, kv_heads, group, -1, head_size], np.int64),
        "heads_shape": np.array([1, heads, -1, head_size], np.int64),
        "out_shape": np.array([1, -1, heads * head_size], np.int64),
    }
    return [numpy_helper.from_array(v, f"{PREFIX}.{k}") for k, v in values.items()]


def _plain_attention(
    qkv: str, past_k: str, past_v: str, outputs: list[str], layer: int
) -> list[onnx.NodeProto]:
    """GroupQueryAttention as MatMul/Softmax/MatMul over [1, kv, group, new, head] blocks,
    so each KV head serves its group of query heads without copying. The new keys/values
    are scattered into the (padded) cache at past..total, then the first `total` positions
    are attended to: positions beyond them may hold a longer, truncated reply."""
    p, s = f"{PREFIX}.", f"{PREFIX}.{layer}."
    out, present_k, present_v = outputs

    def n(op: str, inputs: list[str], output: str, **attrs: Any) -> onnx.NodeProto:
        return _node(op, inputs, output if output in outputs else s + output, **attrs)

    def rotate(x: str, name: str) -> list[onnx.NodeProto]:
        return [
            n("MatMul", [s + x, p + "swap"], name + ".swapped"),
            n("Mul", [s + x, p + "cos"], name + ".cos"),
            n("Mul", [s + name + ".swapped", p + "sin"], name + ".sin"),
            n("Add", [s + name + ".cos", s + name + ".sin"], name),
        ]

    return [
        helper.make_node("Split", [qkv, p + "split"], [s + "q", s + "k", s + "v"], axis=2),
        n("Reshape", [s + "q", p + "q_shape"], "q4"),
        n("Transpose", [s + "q4"], "q_bnsh", perm=[0, 2, 1, 3]),
        n("Reshape", [s + "k", p + "kv_shape"], "k4"),
        n("Transpose", [s + "k4"], "k_bnsh", perm=[0, 2, 1, 3]),
        n("Reshape", [s + "v", p + "kv_shape"], "v4"),
        n("Transpose", [s + "v4"], "v_bnsh", perm=[0, 2, 1, 3]),
        *rotate("q_bnsh", "q_rot"),
        *rotate("k_bnsh", "k_rot"),
        n("Pad", [past_k, p + "pads"], "past_k_room"),
        n("Pad", [past_v, p + "pads"], "past_v_room"),
        n("ScatterElements", [s + "past_k_room", p + "kv_index", s + "k_rot"], present_k, axis=2),
        n("ScatterElements", [s + "past_v_room", p + "kv_index", s + "v_bnsh"], present_v, axis=2),
        n("Slice", [present_k, p + "zero", p + "total_len", p + "axis2"], "k_all"),
        n("Slice", [present_v, p + "zero", p + "total_len", p + "axis2"], "v_all"),
        n("Mul", [s + "q_rot", p + "scale"], "q_scaled"),
        n("Reshape", [s + "q_scaled", p + "group_shape"], "q5"),
        n("Unsqueeze", [s + "k_all", p + "axis2"], "k5"),
        n("Transpose", [s + "k5"], "k5t", perm=[0, 1, 2, 4, 3]),
        n("MatMul", [s + "q5", s + "k5t"], "scores"),
        n("Add", [s + "scores", p + "mask"], "masked"),
        n("Softmax", [s + "masked"], "probs", axis=-1),
        n("Unsqueeze", [s + "v_all", p + "axis2"], "v5"),
        n("MatMul", [s + "probs", s + "v5"], "context5"),
        n("Reshape", [s + "context5", p + "heads_shape"], "context4"),
        n("Transpose", [s + "context4"], "context_bsnh", perm=[0, 2, 1, 3]),
        n("Reshape", [s + "context_bsnh", p + "out_shape"], out),
    ]


def split_prompt_attention(model: onnx.ModelProto) -> onnx.ModelProto:
    """Put the transformer behind If(more than one new token: plain attention, else: the
    original GroupQueryAttention). A graph without the builder's GQA variant (or with
    layers that differ) is returned unchanged."""
    graph = model.graph
    layers = [n for n in graph.node if n.op_type == GQA]
    if not layers or not all(_supported(n) for n in layers):
        return model
    first = _attributes(layers[0])
    if any(_attributes(n) != first for n in layers):
        return model
    heads, kv_heads = int(first["num_heads"]), int(first["kv_num_heads"])
    past_key, cos_cache, sin_cache = (layers[0].input[i] for i in (3, 7, 8))
    (cos,) = [i for i in graph.initializer if i.name == cos_cache]
    head_size = 2 * int(cos.dims[-1])  # cos_cache is [max positions, head_size / 2]
    scale = float(first.get("scale", 0.0)) or head_size**-0.5

    # Nodes fed (transitively) by a graph input run per token and go into both branches;
    # the rest only prepare weights and stay outside, shared.
    produced: set[str] = {i.name for i in graph.input}
    runtime, weights = [], []
    for node in graph.node:
        if any(name in produced for name in node.input):
            runtime.append(node)
            produced.update(o for o in node.output if o)
        else:
            weights.append(node)
    produced -= {i.name for i in graph.input}

    def renamed(name: str, branch: str) -> str:
        return f"{name}.{branch}" if name in produced else name

    def copy(node: onnx.NodeProto, branch: str) -> onnx.NodeProto:
        clone = helper.make_node(
            node.op_type,
            [renamed(i, branch) for i in node.input],
            [renamed(o, branch) for o in node.output],
            name=f"{node.name or node.output[0]}.{branch}",
            domain=node.domain,
        )
        clone.attribute.extend(node.attribute)
        return clone

    def branch(name: str, nodes: list[onnx.NodeProto]) -> onnx.GraphProto:
        outputs = []
        for output in graph.output:
            value = onnx.ValueInfoProto()
            value.CopyFrom(output)
            value.name = renamed(output.name, name)
            outputs.append(value)
        return helper.make_graph(nodes, f"{PREFIX}.{name}", [], outputs)

    prompt = _prompt_values(past_key, cos_cache, sin_cache)
    for node in runtime:
        if node.op_type != GQA:
            prompt.append(copy(node, "prompt"))
            continue
        qkv, past_k, past_v = (renamed(node.input[i], "prompt") for i in (0, 3, 4))
        outputs = [renamed(o, "prompt") for o in node.output]
        prompt += _plain_attention(qkv, past_k, past_v, outputs, layers.index(node))
    decode = [copy(node, "decode") for node in runtime]

    switch = helper.make_node(
        "If",
        [f"{PREFIX}.is_prompt"],
        [o.name for o in graph.output],
        name=f"{PREFIX}.if_prompt",
        then_branch=branch("prompt", prompt),
        else_branch=branch("decode", decode),
    )
    del graph.node[:]
    graph.node.extend([*weights, *_condition(), switch])
    graph.initializer.extend(_constants(head_size, heads, kv_heads, scale))
    return model
