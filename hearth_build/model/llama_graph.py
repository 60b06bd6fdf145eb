"""The fp32 ONNX graph of a llama model, written straight from its weights.

It is the graph the ORT GenAI model builder exports with `-p fp32 -e cpu`, node for node and
name for name, so ORT GenAI and Foundry Local run it, and `blocks`, `head` and `attention`
rewrite it, exactly as they do the builder's. That means the builder's fused ops: one
`GroupQueryAttention` per layer over a packed QKV projection, with rotary inside
(`do_rotary=1`, half-split, from `cos_cache`/`sin_cache`) and the attention mask turned
into its `seqlens_k`/`total_sequence_length` inputs; `SimplifiedLayerNormalization` and
`SkipSimplifiedLayerNormalization` (RMSNorm fused with the residual add); SiLU as
`Sigmoid`·`Mul`; and the LM head's weight, transposed, as the embedding table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hearth_build.model.gguf_reader import LlamaShape

OPSETS = (("", 22), ("com.microsoft", 1))
IR_VERSION = 10
MS = "com.microsoft"
MASK = "/model/attn_mask_reformat/attn_mask_subgraph"
LM_HEAD = "lm_head.MatMul.weight"

Weights = Callable[[str], np.ndarray]


def rotary_caches(shape: LlamaShape) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin of every position times every rotary frequency: [context, head_size / 2].

    The angles are float32 products, as transformers (and the builder) compute them, so long
    positions round as they did in training; their cos/sin are correctly rounded to float32
    (torch's float32 cos can be one unit in the last place away; nothing else differs). The
    frequencies' power is taken in float64 and rounded once, as torch's float32 pow gives it:
    numpy's own float32 pow differs by a unit in the last place on some CPUs (AVX-512), an
    error that long positions multiply (2.4e-4 at position 8,000).
    """
    exponents = np.arange(0, shape.head_size, 2).astype(np.float32) / np.float32(shape.head_size)
    power = (np.float64(shape.rope_theta) ** exponents.astype(np.float64)).astype(np.float32)
    inv_freq = np.float32(1) / power
    angles = np.outer(np.arange(shape.context_length, dtype=np.float32), inv_freq)
    wide = angles.astype(np.float64)
    return np.cos(wide).astype(np.float32), np.sin(wide).astype(np.float32)


class _Graph:
    """Nodes and initializers in the builder's order, with the builder's names: a node's
    output is `<node name>/output_<i>` unless said otherwise."""

    def __init__(self, epsilon: float) -> None:
        self.epsilon = epsilon
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def op(
        self,
        op: str,
        inputs: list[str],
        name: str,
        output: str = "",
        domain: str = "",
        **attrs: Any,
    ) -> str:
        output = output or f"{name}/output_0"
        self.nodes.append(helper.make_node(op, inputs, [output], name, domain=domain, **attrs))
        return output

    def constant(self, name: str, value: np.ndarray) -> str:
        tensor = numpy_helper.from_array(value, name)
        node = name.replace("/constants/", "/constant_nodes/")
        self.nodes.append(helper.make_node("Constant", [], [name], node, value=tensor))
        return name

    def weight(self, name: str, values: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(values.astype(np.float32), name))
        return name

    def skip_norm(
        self, residual: str, update: str, weight: str, prefix: str, last: bool = False
    ) -> tuple[str, str]:
        """RMSNorm(residual + update), and that sum (output 3: the next residual) unless
        this is the last norm."""
        outputs = [f"{prefix}/output_0"] + ([] if last else ["", "", f"{prefix}/output_3"])
        self.nodes.append(
            helper.make_node(
                "SkipSimplifiedLayerNormalization",
                [residual, update, weight],
                outputs,
                f"{prefix}/SkipLayerNorm",
                domain=MS,
                epsilon=self.epsilon,
            )
        )
        return outputs[0], outputs[-1]


def llama_model(shape: LlamaShape, weight: Weights) -> onnx.ModelProto:
    """The fp32 model. `weight(gguf_name)` gives a tensor as Hugging Face lays it out ([out,
    in] for projections); MatMul weights are stored transposed, [in, out]."""
    g = _Graph(shape.rms_epsilon)
    mask = _mask_inputs(g)
    table = g.op("Transpose", [LM_HEAD], "/model/embed_tokens/Transpose", perm=[1, 0])
    residual = g.op("Gather", [table, "input_ids"], "/model/embed_tokens/Gather")
    update = ""
    for i in range(shape.layers):
        prefix, hf = f"/model/layers.{i}", f"model.layers.{i}"
        norm = g.weight(f"{hf}.input_layernorm.weight", weight(f"blk.{i}.attn_norm.weight"))
        if i == 0:  # nothing to add to the embedding yet
            hidden = g.op(
                "SimplifiedLayerNormalization",
                [residual, norm],
                f"{prefix}/input_layernorm/LayerNorm",
                output=f"{prefix}/input_layernorm/output_0",
                epsilon=shape.rms_epsilon,
                axis=-1,
                stash_type=1,
            )
        else:
            hidden, residual = g.skip_norm(residual, update, norm, f"{prefix}/input_layernorm")
        update = _attention(g, shape, weight, i, hidden, mask)
        norm = g.weight(f"{hf}.post_attention_layernorm.weight", weight(f"blk.{i}.ffn_norm.weight"))
        post = f"{prefix}/post_attention_layernorm"
        hidden, residual = g.skip_norm(residual, update, norm, post)
        update = _mlp(g, hidden, weight, i)

    final = f"model.layers.{shape.layers}.final_norm_layernorm"
    norm = g.weight(f"{final}.weight", weight("output_norm.weight"))
    prefix = f"/model/layers.{shape.layers}/final_norm_layernorm"
    hidden, _ = g.skip_norm(residual, update, norm, prefix, last=True)
    g.weight(LM_HEAD, weight("token_embd.weight").T)
    g.op("MatMul", [hidden, LM_HEAD], "/lm_head/MatMul", output="logits")

    inputs, outputs = _inputs_outputs(shape)
    graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, g.initializers)
    opsets = [helper.make_opsetid(domain, version) for domain, version in OPSETS]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="hearth")
    proto.ir_version = IR_VERSION
    return proto


def _attention(
    g: _Graph, shape: LlamaShape, weight: Weights, layer: int, hidden: str, mask: tuple[str, str]
) -> str:
    """One packed QKV MatMul, GroupQueryAttention (rotary inside, the cache in and out), and
    the output projection."""
    prefix, hf = f"/model/layers.{layer}/attn", f"model.layers.{layer}.attn"
    qkv = np.concatenate([weight(f"blk.{layer}.attn_{x}.weight") for x in "qkv"], axis=0)
    qkv_name = g.weight(f"{hf}.qkv_proj.MatMul.weight", qkv.T)
    packed = g.op("MatMul", [hidden, qkv_name], f"{prefix}/qkv_proj/MatMul")
    if layer == 0:  # the builder stores the caches here, shared by every layer
        for name, cache in zip(("cos_cache", "sin_cache"), rotary_caches(shape), strict=True):
            g.weight(name, cache)
    attention = f"{prefix}/GroupQueryAttention"
    past = [f"past_key_values.{layer}.key", f"past_key_values.{layer}.value"]
    g.nodes.append(
        helper.make_node(
            "GroupQueryAttention",
            [packed, "", "", *past, *mask, "cos_cache", "sin_cache", "", "", ""],
            [f"{attention}/output_0", f"present.{layer}.key", f"present.{layer}.value"],
            attention,
            domain=MS,
            num_heads=shape.heads,
            kv_num_heads=shape.kv_heads,
            scale=shape.head_size**-0.5,
            local_window_size=-1,
            softcap=0.0,
            do_rotary=1,
            rotary_interleaved=0,
        )
    )
    o_name = g.weight(f"{hf}.o_proj.MatMul.weight", weight(f"blk.{layer}.attn_output.weight").T)
    return g.op("MatMul", [f"{attention}/output_0", o_name], f"{prefix}/o_proj/MatMul")


def _mask_inputs(g: _Graph) -> tuple[str, str]:
    """GroupQueryAttention's view of the attention mask: seqlens_k (tokens so far - 1) and
    total_sequence_length, both int32."""
    one = g.constant("/model/constants/INT64/[1]", np.array([1], np.int64))
    total = g.op("ReduceSum", ["attention_mask", one], f"{MASK}/ReduceSum", keepdims=0)
    seqlens = g.op("Sub", [total, one], f"{MASK}/Sub")
    seqlens = g.op("Cast", [seqlens], f"{MASK}/Sub/Cast", to=TensorProto.INT32)
    shape = g.op("Shape", ["attention_mask"], f"{MASK}/Shape")
    axis = g.constant("/model/constants/INT64/1", np.array(1, np.int64))
    length = g.op("Gather", [shape, axis], f"{MASK}/Gather", axis=0)
    return seqlens, g.op("Cast", [length], f"{MASK}/Gather/Cast", to=TensorProto.INT32)


def _mlp(g: _Graph, hidden: str, weight: Weights, layer: int) -> str:
    """SwiGLU: down(silu(gate(x)) * up(x)), with SiLU as x * Sigmoid(x)."""
    prefix, hf = f"/model/layers.{layer}/mlp", f"model.layers.{layer}.mlp"

    def proj(name: str, gguf: str, x: str) -> str:
        w = g.weight(f"{hf}.{name}_proj.MatMul.weight", weight(f"blk.{layer}.{gguf}.weight").T)
        return g.op("MatMul", [x, w], f"{prefix}/{name}_proj/MatMul")

    gate, up = proj("gate", "ffn_gate", hidden), proj("up", "ffn_up", hidden)
    sigmoid = g.op("Sigmoid", [gate], f"{prefix}/act_fn/Sigmoid")
    silu = g.op("Mul", [gate, sigmoid], f"{prefix}/act_fn/Mul")
    return proj("down", "ffn_down", g.op("Mul", [silu, up], f"{prefix}/Mul"))


def _inputs_outputs(
    shape: LlamaShape,
) -> tuple[list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
    """The builder's graph inputs and outputs, keys before values, symbolic dims and all."""

    def cache(name: str, length: str) -> onnx.ValueInfoProto:
        dims: list[str | int] = ["batch_size", shape.kv_heads, length, "kv_cache_dim"]
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)

    layers = [(i, kind) for kind in ("key", "value") for i in range(shape.layers)]
    inputs = [
        helper.make_tensor_value_info(
            "input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]
        ),
        helper.make_tensor_value_info(
            "attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"]
        ),
        *(cache(f"past_key_values.{i}.{kind}", "past_sequence_length") for i, kind in layers),
    ]
    logits_dims: list[str | int] = ["batch_size", "sequence_length", shape.vocab_size]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, logits_dims),
        *(cache(f"present.{i}.{kind}", "total_sequence_length") for i, kind in layers),
    ]
    return inputs, outputs
