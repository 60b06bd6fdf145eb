"""The page's weight encodings: exact for GGUF blocks, close for the int8 fallback, and the
rewritten graph computes what the original did once ORT folds it.

GGUF blocks come from `gguf`'s numpy port of llama.cpp's own quantisers, so "exact" means the
GGUF's blocks: the same scales, minimums and codes, rebuilt into the same fp32 values."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize
from onnx import TensorProto, helper, numpy_helper

from hearth_build.model.blocks import Encoded, compress_graph, encode, encode_q4_1, encode_q8_0

RNG = np.random.default_rng(0)


def q4_1_weights(k: int, n: int) -> np.ndarray:
    """Weights as a GGUF Q4_1 dequantiser produces them: d*q + m per block of 32 along K."""
    d = RNG.uniform(0.001, 0.05, (k // 32, n)).astype(np.float16).astype(np.float32)
    m = RNG.uniform(-0.4, 0.0, (k // 32, n)).astype(np.float16).astype(np.float32)
    q = RNG.integers(0, 16, (k // 32, 32, n)).astype(np.float32)
    q[:, 0, :], q[:, 1, :] = 0, 15  # llama.cpp's quantiser maps a block's min to 0, max to 15
    return (d[:, None, :] * q + m[:, None, :]).reshape(k, n)


def q8_0_weights(k: int, n: int) -> np.ndarray:
    d = RNG.uniform(0.001, 0.01, (k // 32, n)).astype(np.float16).astype(np.float32)
    q = RNG.integers(-127, 128, (k // 32, 32, n)).astype(np.float32)
    q[:, 0, :] = 127
    return (d[:, None, :] * q).reshape(k, n)


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    session = ort.InferenceSession(model.SerializeToString(), options)
    return np.asarray(session.run(None, {"x": x})[0])


def matmul_model(weight: np.ndarray) -> onnx.ModelProto:
    k, n = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
        [numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])


def gguf_blocks(kind: GGMLQuantizationType, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """An [n, k] GGUF tensor quantised by llama.cpp's rules: its blocks ([n, k/32, bytes])
    and its dequantised values as an ONNX MatMul weight ([k, n], blocks along k)."""
    raw = quantize(RNG.normal(0, 0.02, (n, k)).astype(np.float32), kind)
    return raw.reshape(n, k // 32, -1), dequantize(raw, kind).T.copy()


def rebuilt(enc: Encoded, name: str, w: np.ndarray) -> np.ndarray:
    """What the encoding's nodes compute from its initializers, run by onnxruntime."""
    graph = helper.make_graph(
        enc.nodes,
        "rebuild",
        [],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(w.shape))],
        enc.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    return np.asarray(ort.InferenceSession(model.SerializeToString()).run(None, {})[0])


def stored(enc: Encoded, name: str) -> np.ndarray:
    (init,) = [i for i in enc.initializers if i.name == name]
    return numpy_helper.to_array(init)


def fp16_field(blocks: np.ndarray, start: int) -> np.ndarray:
    """The fp16 at byte `start` of every block, as [k/32, n] like the encoding stores it."""
    return blocks[..., start : start + 2].copy().view(np.float16)[..., 0].T


def test_gguf_q4_1_blocks_are_recovered_exactly() -> None:
    k, n = 256, 300
    blocks, w = gguf_blocks(GGMLQuantizationType.Q4_1, k, n)
    enc = encode(name="w", w=w)
    assert enc.kind == "Q4_1"
    assert encode_q8_0("w", w) is None  # not representable as Q8_0
    np.testing.assert_array_equal(rebuilt(enc, "w", w), w)
    # the GGUF's own blocks: fp16 d and m, then 16 bytes of codes (low nibbles first)
    d, m = fp16_field(blocks, 0), fp16_field(blocks, 2)
    codes = blocks[..., 4:]
    q = np.concatenate([codes & 15, codes >> 4], axis=-1).reshape(n, k).T
    np.testing.assert_array_equal(stored(enc, "w.scaled.d").view(np.uint16), d.view(np.uint16))
    np.testing.assert_array_equal(stored(enc, "w.m")[:, 0].view(np.uint16), m.view(np.uint16))
    np.testing.assert_array_equal(stored(enc, "w.q4").astype(np.uint8), q)


def test_gguf_q8_0_blocks_are_recovered_exactly() -> None:
    k, n = 128, 512
    blocks, w = gguf_blocks(GGMLQuantizationType.Q8_0, k, n)
    assert encode_q4_1("w", w) is None
    enc = encode("w", w)
    assert enc.kind == "Q8_0"
    np.testing.assert_array_equal(rebuilt(enc, "w", w), w)
    # the GGUF's own blocks: fp16 d, then 32 int8 codes
    q = blocks[..., 2:].copy().view(np.int8).reshape(n, k).T
    np.testing.assert_array_equal(
        stored(enc, "w.d").view(np.uint16), fp16_field(blocks, 0).view(np.uint16)
    )
    np.testing.assert_array_equal(stored(enc, "w.q8"), q)


def test_other_weights_fall_back_to_int8() -> None:
    w = RNG.normal(0, 0.02, (96, 700)).astype(np.float32)
    assert encode("w", w).kind == "INT8"


@pytest.mark.parametrize(
    ("make", "kind", "exact"),
    [(q4_1_weights, "Q4_1", True), (q8_0_weights, "Q8_0", True), (None, "INT8", False)],
)
def test_rewritten_graph_matches_the_original(make: object, kind: str, exact: bool) -> None:
    w = (
        make(256, 320)  # type: ignore[operator]
        if make
        else RNG.normal(0, 0.02, (256, 320)).astype(np.float32)
    )
    x = RNG.normal(0, 1, (1, 256)).astype(np.float32)
    original = run(matmul_model(w), x)
    model = matmul_model(w)
    assert compress_graph(model) == {kind: 1}
    assert not [
        i for i in model.graph.initializer if i.data_type == TensorProto.FLOAT and i.name == "w"
    ]
    rewritten = run(model, x)
    if exact:
        np.testing.assert_array_equal(rewritten, original)
    else:
        np.testing.assert_allclose(rewritten, original, rtol=0.05, atol=0.02)


def test_small_tensors_stay_fp32() -> None:
    model = matmul_model(q4_1_weights(32, 64))
    assert compress_graph(model) == {}
