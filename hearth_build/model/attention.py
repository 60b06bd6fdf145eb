"""Prompt evaluation with plain ONNX attention in the page's graph.

ONNX Runtime Web's WASM kernel for `GroupQueryAttention` is fine for one new token but
scales badly with the prompt: measured in ORT Web 1.30 (2 threads), one layer's attention
over a 1,024-token prompt takes 683 ms, so 30 layers spend 20 s there, while the same
attention as MatMul/Softmax/MatMul (MLAS GEMMs) takes 70 ms a layer. For one new token the
fused kernel wins (it is one dispatch instead of a few dozen).

So each layer's attention sits behind an `If` on "more than one new token": the prompt
branch computes it with plain ops, the decode branch is the original `GroupQueryAttention`.
Only attention is branched: every weight's MatMul stays in the main graph, once. ONNX
Runtime packs a MatMul's constant weights for its GEMM kernels per node, so a graph that
held the whole transformer in two branches (as this one did until 2026-12-02) packed all
540 MB of fp32 weights twice at every session creation: about 0.4 s more to open the model
natively and 530 MB more memory (1,327 MB against 796 MB resident, onnxruntime 1.32, 2
threads). Both branches write the same present key/value cache (BNSH, rotated keys), so a
reply can be prefilled by one and continued by the other. Only the page's copy of the graph
is rewritten; `model.onnx` stays as ORT GenAI and Foundry Local expect it.

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


def _prompt_values(
    past_key: str, cos_cache: str, sin_cache: str, scope: str
) -> list[onnx.NodeProto]:
    """What a layer's plain attention needs besides its own tensors, named under `scope`:
    the new tokens' positions, their rotary cos/sin, the causal mask, where their
    keys/values go in the cache and how much a cache without room must be padded. Each
    layer's prompt branch computes them again (a few dozen small ops per prompt chunk), so
    that decoding runs none of them."""
    p = f"{PREFIX}."

    def n(op: str, inputs: list[str], output: str, **attrs: Any) -> onnx.NodeProto:
        return _node(op, inputs, scope + output, **attrs)

    return [
        n("Shape", ["attention_mask"], "total_len", start=1, end=2),
        n("Sub", [scope + "total_len", p + "new_len"], "past_len"),
        n("Squeeze", [scope + "past_len"], "past_scalar"),
        n("Squeeze", [scope + "total_len"], "total_scalar"),
        n("Range", [scope + "past_scalar", scope + "total_scalar", p + "one_scalar"], "q_pos"),
        n("Range", [p + "zero_scalar", scope + "total_scalar", p + "one_scalar"], "k_pos"),
        # causal mask [new, total]: key j is visible to query i when j <= past + i
        n("Unsqueeze", [scope + "q_pos", p + "axis1"], "q_col"),
        n("Unsqueeze", [scope + "k_pos", p + "axis0"], "k_row"),
        n("Greater", [scope + "k_row", scope + "q_col"], "future"),
        n("Where", [scope + "future", p + "minus_inf", p + "zero_f"], "mask"),
        # rotary, half-split as GQA's rotary_interleaved=0: x*[cos,cos] + swap(x)*[-sin,sin]
        n("Gather", [cos_cache, scope + "q_pos"], "cos_half"),
        n("Gather", [sin_cache, scope + "q_pos"], "sin_half"),
        n("Concat", [scope + "cos_half", scope + "cos_half"], "cos", axis=-1),
        n("Neg", [scope + "sin_half"], "sin_neg"),
        n("Concat", [scope + "sin_neg", scope + "sin_half"], "sin", axis=-1),
        # ScatterElements indices [1, kv, new, head]: position past + i for new token i
        n("Reshape", [scope + "q_pos", p + "pos_shape"], "pos4"),
        n("Concat", [p + "batch_heads", p + "new_len", p + "head_dim"], "update_shape", axis=0),
        n("Expand", [scope + "pos4", scope + "update_shape"], "kv_index"),
        # pads for a cache shorter than past + new: [0]*6 + [max(total - capacity, 0), 0]
        n("Shape", [past_key], "capacity", start=2, end=3),
        n("Sub", [scope + "total_len", scope + "capacity"], "shortfall"),
        n("Max", [scope + "shortfall", p + "zero"], "growth"),
        n("Concat", [p + "zeros6", scope + "growth", p + "zero"], "pads", axis=0),
        n("Equal", [scope + "growth", p + "zero"], "room_1d"),
        n("Squeeze", [scope + "room_1d"], "has_room"),
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
    are attended to: positions beyond them may hold a longer, truncated reply. The values
    all layers' prompts share (`_prompt_values`) are expected under the layer's scope."""
    p, s = f"{PREFIX}.", f"{PREFIX}.{layer}."
    out, present_k, present_v = outputs

    def n(op: str, inputs: list[str], output: str, **attrs: Any) -> onnx.NodeProto:
        return _node(op, inputs, output if output in outputs else s + output, **attrs)

    def rotate(x: str, name: str) -> list[onnx.NodeProto]:
        return [
            n("MatMul", [s + x, p + "swap"], name + ".swapped"),
            n("Mul", [s + x, s + "cos"], name + ".cos"),
            n("Mul", [s + name + ".swapped", s + "sin"], name + ".sin"),
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
        _write_cache(past_k, past_v, s + "k_rot", s + "v_bnsh", [present_k, present_v], s),
        n("Slice", [present_k, p + "zero", s + "total_len", p + "axis2"], "k_all"),
        n("Slice", [present_v, p + "zero", s + "total_len", p + "axis2"], "v_all"),
        n("Mul", [s + "q_rot", p + "scale"], "q_scaled"),
        n("Reshape", [s + "q_scaled", p + "group_shape"], "q5"),
        n("Unsqueeze", [s + "k_all", p + "axis2"], "k5"),
        n("Transpose", [s + "k5"], "k5t", perm=[0, 1, 2, 4, 3]),
        n("MatMul", [s + "q5", s + "k5t"], "scores"),
        n("Add", [s + "scores", s + "mask"], "masked"),
        n("Softmax", [s + "masked"], "probs", axis=-1),
        n("Unsqueeze", [s + "v_all", p + "axis2"], "v5"),
        n("MatMul", [s + "probs", s + "v5"], "context5"),
        n("Reshape", [s + "context5", p + "heads_shape"], "context4"),
        n("Transpose", [s + "context4"], "context_bsnh", perm=[0, 2, 1, 3]),
        n("Reshape", [s + "context_bsnh", p + "out_shape"], out),
    ]


def _write_cache(
    past_k: str, past_v: str, k: str, v: str, presents: list[str], s: str
) -> onnx.NodeProto:
    """The new keys/values scattered into the cache at past..total. A cache with room (the
    page's shared buffers) is written as it is: ScatterElements skips copying its input when
    ONNX Runtime allocates the output in the bound present buffer, which is that input. Only
    a cache without room is padded first, since Pad copies all of it: for every prompt chunk
    that was 60 copies of the whole capacity: natively, a 64-token chunk after 4,096 cached
    tokens in a 4,608-token buffer took 310 ms instead of 266, and after 512 in an
    8,192-token buffer 204 instead of 113."""

    def scatter(room_k: str, room_v: str, tag: str) -> list[onnx.NodeProto]:
        return [
            _node("ScatterElements", [room_k, s + "kv_index", k], s + tag + "k", axis=2),
            _node("ScatterElements", [room_v, s + "kv_index", v], s + tag + "v", axis=2),
        ]

    def branch(nodes: list[onnx.NodeProto], tag: str) -> onnx.GraphProto:
        return helper.make_graph(nodes, s + tag, [], _outputs([s + tag + "k", s + tag + "v"]))

    padded = [
        _node("Pad", [past_k, s + "pads"], s + "past_k_room"),
        _node("Pad", [past_v, s + "pads"], s + "past_v_room"),
        *scatter(s + "past_k_room", s + "past_v_room", "padded."),
    ]
    return helper.make_node(
        "If",
        [s + "has_room"],
        presents,
        name=s + "if_room",
        then_branch=branch(scatter(past_k, past_v, "in_place."), "in_place."),
        else_branch=branch(padded, "padded."),
    )


def split_prompt_attention(model: onnx.ModelProto) -> onnx.ModelProto:
    """Put each layer's attention behind If(more than one new token: plain attention, else:
    the original GroupQueryAttention). A graph without the builder's GQA variant (or with
    layers that differ) is returned unchanged."""
    graph = model.graph
    layers = [n for n in graph.node if n.op_type == GQA]
    if not layers or not all(_supported(n) for n in layers):
        return model
    first = _attributes(layers[0])
    if any(_attributes(n) != first for n in layers):
        return model
    heads, kv_heads = int(first["num_heads"]), int(first["kv_num_heads"])
    cos_cache, sin_cache = layers[0].input[7], layers[0].input[8]
    (cos,) = [i for i in graph.initializer if i.name == cos_cache]
    head_size = 2 * int(cos.dims[-1])  # cos_cache is [max positions, head_size / 2]
    scale = float(first.get("scale", 0.0)) or head_size**-0.5

    def switch(node: onnx.NodeProto, layer: int) -> onnx.NodeProto:
        qkv, past_k, past_v = (node.input[i] for i in (0, 3, 4))
        scope = f"{PREFIX}.{layer}."
        prompt_out = [f"{o}.prompt" for o in node.output]
        decode = helper.make_node(
            GQA,
            list(node.input),
            [f"{o}.decode" for o in node.output],
            name=f"{node.name or node.output[0]}.decode",
            domain=node.domain,
        )
        decode.attribute.extend(node.attribute)
        prompt = [
            *_prompt_values(past_k, cos_cache, sin_cache, scope),
            *_plain_attention(qkv, past_k, past_v, prompt_out, layer),
        ]
        return helper.make_node(
            "If",
            [f"{PREFIX}.is_prompt"],
            list(node.output),
            name=f"{scope}if_prompt",
            then_branch=helper.make_graph(prompt, f"{scope}prompt", [], _outputs(prompt_out)),
            else_branch=helper.make_graph([decode], f"{scope}decode", [], _outputs(decode.output)),
        )

    nodes = [switch(n, layers.index(n)) if n.op_type == GQA else n for n in graph.node]
    del graph.node[:]
    graph.node.extend([*_condition(), *nodes])
    graph.initializer.extend(_constants(head_size, heads, kv_heads, scale))
    return model


def _outputs(names: list[str]) -> list[onnx.ValueInfoProto]:
    """A branch's outputs: float tensors whose shapes ONNX Runtime infers."""
    return [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names]
