"""The page's weights as fp32, rebuilt in the page from the GGUF-style blocks it downloads.

`model.onnx` keeps each large weight as blocks (blocks.py) behind a constant prologue,
`Cast -> DequantizeLinear (-> Reshape -> Add -> Reshape)`, which ONNX Runtime folds into
fp32 at session creation when `session.disable_quant_qdq=1` is set. That folding runs the
prologue op by op over 135M weights: 1.9 s natively (2 threads) and 4.4-7 s in ORT Web,
most of the page's time to ready. Rebuilding the same floats in a plain loop takes a
fraction of that. So the page's graph names each such weight as a plain fp32 initializer in
a virtual external-data file, `UNPACKED` (never downloaded), and a recipe beside the graph
(`RECIPE`) says where each weight's codes, scales and minimums lie in `model.onnx.data`.
The page rebuilds the file from it (site/weights.js, whose loops are the WebAssembly of
site/dequant.wat) and mounts it beside the real one; native runs pass it in memory
(`NativeModel`).

The arithmetic is DequantizeLinear's, so the floats are bit for bit what ORT folded (and
what blocks.py checked against the original weights): d*q is exact in fp32 (an fp16 scale
has 11 significant bits, a code at most 8), and Q4_1's one addition rounds once, in fp32
here and in the page's WebAssembly alike.

A prologue whose parts are not all in the external file (a tiny model's scales can be
stored inline) is left in the graph for ORT to fold, as before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # onnx and numpy are build extras; the constants here are not
    import numpy as np
    import onnx

UNPACKED = "model.page.weights"  # the virtual external-data file the page rebuilds
RECIPE = "model.page.weights.json"
SOURCE = "model.onnx.data"
ALIGN = 64  # each weight starts on a cache line of the rebuilt file
BLOCK = 32


@dataclass(frozen=True)
class PackedWeight:
    """One fp32 weight [rows, cols] and where its encoded parts lie in the source file.

    Q4_1: `codes` are 4-bit (two a byte, the first in the low nibble, row-major), `scales`
    and `mins` fp16 [rows/32, cols]; w = d*q + m. Q8_0: int8 codes, fp16 scales
    [rows/32, cols]; w = d*q. INT8: int8 codes, fp16 scales [cols]; w = d*q."""

    name: str
    encoding: str
    rows: int
    cols: int
    codes: int
    scales: int
    mins: int | None
    offset: int  # of its fp32 values in UNPACKED

    @property
    def nbytes(self) -> int:
        return self.rows * self.cols * 4


@dataclass(frozen=True)
class WeightsRecipe:
    source: str
    file: str
    bytes: int
    weights: tuple[PackedWeight, ...]

    def to_json(self) -> str:
        data = asdict(self)
        data["weights"] = [asdict(w) for w in self.weights]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> WeightsRecipe:
        data = json.loads(text)
        weights = tuple(PackedWeight(**w) for w in data["weights"])
        return cls(str(data["source"]), str(data["file"]), int(data["bytes"]), weights)

    @classmethod
    def read(cls, folder: Path) -> WeightsRecipe | None:
        path = folder / RECIPE
        return cls.from_json(path.read_text()) if path.exists() else None


def _external(init: onnx.TensorProto) -> tuple[str, int] | None:
    """(file, offset) of an initializer stored as external data, else None."""
    from onnx import TensorProto

    if init.data_location != TensorProto.EXTERNAL:
        return None
    info = {e.key: e.value for e in init.external_data}
    return info["location"], int(info.get("offset", "0"))


@dataclass
class _Prologue:
    """One weight's constant prologue as blocks.py writes it, found in a graph."""

    encoding: str
    weight: str  # the fp32 value it produces
    codes: onnx.TensorProto
    scales: onnx.TensorProto
    mins: onnx.TensorProto | None
    nodes: list[onnx.NodeProto]


class _Graph:
    """Who produces and who consumes each value, for walking prologues."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.inits = {i.name: i for i in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def only_consumer(self, name: str, op: str) -> onnx.NodeProto | None:
        found = self.consumers.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op else None

    def fp16_cast(self, name: str) -> tuple[onnx.TensorProto, onnx.NodeProto] | None:
        """The fp16 initializer that a Cast turns into `name`."""
        from onnx import TensorProto

        cast = self.producer.get(name)
        if cast is None or cast.op_type != "Cast" or cast.input[0] not in self.inits:
            return None
        init = self.inits[cast.input[0]]
        return (init, cast) if init.data_type == TensorProto.FLOAT16 else None

    def prologue(self, dq: onnx.NodeProto) -> _Prologue | None:
        """The prologue that `dq` (a DequantizeLinear) starts, if it is one of blocks.py's."""
        import onnx
        from onnx import TensorProto

        codes = self.inits.get(dq.input[0])
        scales = self.fp16_cast(dq.input[1])
        if codes is None or scales is None or len(codes.dims) != 2:
            return None
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in dq.attribute}
        blocked = attrs.get("block_size") == BLOCK and attrs.get("axis") == 0
        per_column = "block_size" not in attrs and attrs.get("axis") == 1
        nodes = [dq, scales[1]]
        if codes.data_type == TensorProto.INT8 and (blocked or per_column):
            encoding = "Q8_0" if blocked else "INT8"
            return _Prologue(encoding, dq.output[0], codes, scales[0], None, nodes)
        if codes.data_type != TensorProto.UINT4 or not blocked:
            return None
        # Q4_1: Reshape to blocks -> Add the minimums -> Reshape back
        reshape = self.only_consumer(dq.output[0], "Reshape")
        add = reshape and self.only_consumer(reshape.output[0], "Add")
        back = add and self.only_consumer(add.output[0], "Reshape")
        mins = add and self.fp16_cast(add.input[1])
        if not (reshape and add and back and mins):
            return None
        nodes += [reshape, add, back, mins[1]]
        return _Prologue("Q4_1", back.output[0], codes, scales[0], mins[0], nodes)


def unpack_graph(model: onnx.ModelProto) -> WeightsRecipe:
    """Replace, in place, every blocks.py prologue the page can rebuild by a plain fp32
    initializer in UNPACKED; returns the recipe. Load `model` without its external data."""
    from onnx import TensorProto

    graph = model.graph
    walk = _Graph(graph)
    weights: list[PackedWeight] = []
    removed: set[int] = set()
    offset = 0
    for node in graph.node:
        found = walk.prologue(node) if node.op_type == "DequantizeLinear" else None
        if found is None:
            continue
        parts = [found.codes, found.scales] + ([found.mins] if found.mins is not None else [])
        places = [_external(p) for p in parts]
        if any(p is None or p[0] != SOURCE for p in places):
            continue  # left for ORT to fold
        offsets = [p[1] for p in places if p is not None]
        rows, cols = (int(d) for d in found.codes.dims)
        weights.append(
            PackedWeight(
                name=found.weight,
                encoding=found.encoding,
                rows=rows,
                cols=cols,
                codes=offsets[0],
                scales=offsets[1],
                mins=offsets[2] if found.mins is not None else None,
                offset=offset,
            )
        )
        offset += -(-rows * cols * 4 // ALIGN) * ALIGN
        removed.update(id(n) for n in found.nodes)

    kept = [n for n in graph.node if id(n) not in removed]
    dropped = {i for n in graph.node if id(n) in removed for i in n.input if i in walk.inits}
    shared = dropped & {i for n in kept for i in n.input}
    if shared:
        raise ValueError(f"a weights prologue shares its inputs: {sorted(shared)}")
    del graph.node[:]
    graph.node.extend(kept)
    inits = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    for w in weights:
        tensor = TensorProto(name=w.name, data_type=TensorProto.FLOAT, dims=[w.rows, w.cols])
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", UNPACKED), ("offset", w.offset), ("length", w.nbytes)):
            tensor.external_data.add(key=key, value=str(value))
        graph.initializer.append(tensor)
    return WeightsRecipe(SOURCE, UNPACKED, offset, tuple(weights))


def _fp16(source: memoryview, offset: int, count: int) -> np.ndarray:
    import numpy as np

    return np.frombuffer(source, np.float16, count, offset).astype(np.float32)


def unpack(recipe: WeightsRecipe, source: bytes | memoryview) -> bytearray:
    """UNPACKED's bytes from `source` (model.onnx.data): the numpy twin of site/weights.js."""
    import numpy as np

    view = memoryview(source)
    out = bytearray(recipe.bytes)
    for w in recipe.weights:
        n = w.rows * w.cols
        dest = np.frombuffer(out, np.float32, n, w.offset).reshape(w.rows, w.cols)
        if w.encoding == "Q4_1":
            packed = np.frombuffer(view, np.uint8, (n + 1) // 2, w.codes)
            q = np.empty(packed.size * 2, np.float32)
            q[0::2], q[1::2] = packed & 15, packed >> 4
            blocks = (w.rows // BLOCK, 1, w.cols)
            d = _fp16(view, w.scales, w.rows // BLOCK * w.cols).reshape(blocks)
            m = _fp16(view, w.mins or 0, w.rows // BLOCK * w.cols).reshape(blocks)
            codes = q[:n].reshape(w.rows // BLOCK, BLOCK, w.cols)
            dest[...] = (codes * d + m).reshape(w.rows, w.cols)
        elif w.encoding == "Q8_0":
            q8 = np.frombuffer(view, np.int8, n, w.codes).astype(np.float32)
            d = _fp16(view, w.scales, w.rows // BLOCK * w.cols)
            blocks = q8.reshape(w.rows // BLOCK, BLOCK, w.cols) * d.reshape(-1, 1, w.cols)
            dest[...] = blocks.reshape(w.rows, w.cols)
        elif w.encoding == "INT8":
            q8 = np.frombuffer(view, np.int8, n, w.codes).astype(np.float32)
            dest[...] = q8.reshape(w.rows, w.cols) * _fp16(view, w.scales, w.cols)
        else:
            raise ValueError(f"unknown weight encoding {w.encoding!r}")
    return out
