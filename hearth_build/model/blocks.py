"""The page's model format: GGUF-style weight blocks on the wire, fp32 arithmetic in the page.

Measured in Chromium (docs/model-formats.md): ONNX Runtime Web's fp32 GEMV beats its int8
MatMulInteger and 4-bit MatMulNBits kernels, but fp32 weights are a 519 MB download. So each
large MatMul weight is stored compactly and rebuilt by constant nodes
(`Cast -> DequantizeLinear -> Add`) that ORT folds into fp32 at load time once the session
option `session.disable_quant_qdq=1` is set. The graph that runs is the plain fp32 graph. (The
page's own graph rebuilds those floats itself rather than through ORT: page_weights.py.)

Three encodings, tried in order, per tensor:
- Q4_1: blocks of 32 along K, w = d*q + m with q in 0..15 and fp16 d, m (5 bits/weight);
- Q8_0: blocks of 32 along K, w = d*q with q in -127..127 and fp16 d (8.5 bits/weight);
- INT8: symmetric per-column int8 (8 bits/weight), the lossy fallback.
A GGUF source dequantised by transformers yields weights that Q4_1/Q8_0 rebuild *bit for
bit*; every exact encoding is verified by reconstructing it in numpy before it is used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BLOCK = 32
MIN_ELEMENTS = 1 << 16  # small tensors (norms, rotary caches) stay fp32


@dataclass
class Encoded:
    kind: str
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    nodes: list[onnx.NodeProto] = field(default_factory=list)


def _uint4(name: str, values: np.ndarray) -> onnx.TensorProto:
    """A UINT4 initializer: two values per byte, the first in the low nibble."""
    flat = values.astype(np.uint8).ravel()
    if flat.size % 2:
        flat = np.append(flat, np.uint8(0))
    packed = (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8)
    tensor = TensorProto(name=name, data_type=TensorProto.UINT4, dims=list(values.shape))
    tensor.raw_data = packed.tobytes()
    return tensor


def _dequantize(name: str, q_name: str, d16: np.ndarray, axis: int, block: int | None) -> Encoded:
    """Initializer for the fp16 scales plus Cast and DequantizeLinear nodes into `name`."""
    out = Encoded(kind="")
    out.initializers.append(numpy_helper.from_array(d16, f"{name}.d"))
    out.nodes.append(helper.make_node("Cast", [f"{name}.d"], [f"{name}.d32"], to=TensorProto.FLOAT))
    node = helper.make_node("DequantizeLinear", [q_name, f"{name}.d32"], [name], axis=axis)
    if block:
        node.attribute.append(helper.make_attribute("block_size", block))
    out.nodes.append(node)
    return out


def _blocks(w: np.ndarray) -> np.ndarray | None:
    """`w` ([K, N]) as [K/32, 32, N], or None when K is not a multiple of the block."""
    k, n = w.shape
    return None if k % BLOCK else w.reshape(k // BLOCK, BLOCK, n)


def _exact_codes(
    blocks: np.ndarray, d16: np.ndarray, m16: np.ndarray | None, low: int, high: int
) -> np.ndarray | None:
    """Integer codes q with d*q (+ m) equal to `blocks` bit for bit, or None."""
    d = d16.astype(np.float32)[:, None, :]
    m = np.float32(0) if m16 is None else m16.astype(np.float32)[:, None, :]
    q = np.clip(np.rint((blocks - m) / np.where(d == 0, 1, d)), low, high)
    return q if np.array_equal(d * q + m, blocks) else None


def encode_q4_1(name: str, w: np.ndarray) -> Encoded | None:
    blocks = _blocks(w)
    if blocks is None:
        return None
    k, n = w.shape
    low, high = blocks.min(axis=1), blocks.max(axis=1)
    m16 = low.astype(np.float16)
    d16 = ((high - low) / 15).astype(np.float16)
    q = _exact_codes(blocks, d16, m16, 0, 15)
    if q is None:
        return None
    enc = _dequantize(f"{name}.scaled", f"{name}.q4", d16, axis=0, block=BLOCK)
    enc.kind = "Q4_1"
    enc.initializers.append(_uint4(f"{name}.q4", q.reshape(k, n)))
    enc.initializers.append(numpy_helper.from_array(m16.reshape(k // BLOCK, 1, n), f"{name}.m"))
    enc.initializers.append(
        numpy_helper.from_array(np.array([k // BLOCK, BLOCK, n]), f"{name}.blocked")
    )
    enc.initializers.append(numpy_helper.from_array(np.array([k, n]), f"{name}.shape"))
    enc.nodes += [
        helper.make_node("Cast", [f"{name}.m"], [f"{name}.m32"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", [f"{name}.scaled", f"{name}.blocked"], [f"{name}.b"]),
        helper.make_node("Add", [f"{name}.b", f"{name}.m32"], [f"{name}.sum"]),
        helper.make_node("Reshape", [f"{name}.sum", f"{name}.shape"], [name]),
    ]
    return enc


def encode_q8_0(name: str, w: np.ndarray) -> Encoded | None:
    blocks = _blocks(w)
    if blocks is None:
        return None
    k, n = w.shape
    d16 = (np.abs(blocks).max(axis=1) / 127).astype(np.float16)
    q = _exact_codes(blocks, d16, None, -127, 127)
    if q is None:
        return None
    enc = _dequantize(name, f"{name}.q8", d16, axis=0, block=BLOCK)
    enc.kind = "Q8_0"
    enc.initializers.append(numpy_helper.from_array(q.reshape(k, n).astype(np.int8), f"{name}.q8"))
    return enc


def encode_int8(name: str, w: np.ndarray) -> Encoded:
    """Lossy fallback for weights that did not come from GGUF blocks: per-column int8."""
    peak = np.abs(w).max(axis=0)
    d16 = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float16)
    d = d16.astype(np.float32)
    q = np.clip(np.rint(w / d), -127, 127).astype(np.int8)
    enc = _dequantize(name, f"{name}.i8", d16, axis=1, block=None)
    enc.kind = "INT8"
    enc.initializers.append(numpy_helper.from_array(q, f"{name}.i8"))
    return enc


def encode(name: str, w: np.ndarray) -> Encoded:
    return encode_q4_1(name, w) or encode_q8_0(name, w) or encode_int8(name, w)


def compress_graph(
    model: onnx.ModelProto, encoder: Callable[[str, np.ndarray], Encoded] = encode
) -> Counter[str]:
    """Re-encode every large 2-D fp32 MatMul weight in place; returns counts per encoding.

    The tied embedding (Transpose of the lm_head weight, then Gather) is covered too: the
    rewrite keeps the tensor's name, so all of its consumers see the rebuilt fp32 value.
    """
    graph = model.graph
    matmul_weights = {n.input[1] for n in graph.node if n.op_type == "MatMul"}
    counts: Counter[str] = Counter()
    kept: list[onnx.TensorProto] = []
    prologue: list[onnx.NodeProto] = []
    for init in graph.initializer:
        large = len(init.dims) == 2 and init.dims[0] * init.dims[1] >= MIN_ELEMENTS
        if init.name in matmul_weights and init.data_type == TensorProto.FLOAT and large:
            enc = encoder(init.name, numpy_helper.to_array(init))
            kept += enc.initializers
            prologue += enc.nodes
            counts[enc.kind] += 1
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    body = list(graph.node)
    del graph.node[:]
    graph.node.extend(prologue + body)
    return counts


def compress_model(
    src: Path, dest: Path, encoder: Callable[[str, np.ndarray], Encoded] = encode
) -> Counter[str]:
    """Rewrite `src` (an fp32 ORT GenAI model.onnx) into `dest` with one external data file."""
    model = onnx.load(str(src))
    counts = compress_graph(model, encoder)
    dest.parent.mkdir(parents=True, exist_ok=True)
    data_name = dest.name + ".data"
    (dest.parent / data_name).unlink(missing_ok=True)
    onnx.save_model(
        model,
        str(dest),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    return counts
