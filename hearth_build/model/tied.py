"""A tied embedding read from the LM head's own weight, not from a transposed copy of it.

The ORT GenAI builder ties the embedding to the LM head as `Gather(Transpose(W), ids)`, W
being the head's [hidden, vocab] weight. ONNX Runtime folds that Transpose into a second
constant when it opens the model: for SmolLM2-135M, 28M floats (113 MB) transposed and
held beside W, 0.2 s of the 1.2 s the page graph took to open natively (2 threads,
2026-12-06), on the path to the page's "ready". `Gather(W, ids, axis=1)` picks the same
floats as columns, and a Transpose of those few columns puts them in order: a few strided
reads a token instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx


def _rank(graph: onnx.GraphProto, name: str) -> int | None:
    for value in [*graph.input, *graph.value_info]:
        if value.name == name and value.type.tensor_type.HasField("shape"):
            return len(value.type.tensor_type.shape.dim)
    return None


def _gathers_rows(node: onnx.NodeProto, table: str) -> bool:
    """Whether `node` picks rows (axis 0) of `table`, and uses it for nothing else."""
    from onnx import helper

    axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
    return node.op_type == "Gather" and list(node.input)[0] == table != node.input[1] and axis == 0


def gather_tied_rows(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite each Gather(Transpose(W)) over a 2-D initializer W, whose transpose feeds
    only axis-0 Gathers with indices of known rank, as Transpose(Gather(W, axis=1)). Any
    other graph is returned unchanged."""
    from onnx import helper

    graph = model.graph
    constants = {i.name: i for i in graph.initializer}
    outputs = {o.name for o in graph.output}

    for copy in [n.output[0] for n in graph.node if n.op_type == "Transpose"]:
        nodes = list(graph.node)  # as the last rewrite left them
        at = next(i for i, n in enumerate(nodes) if n.op_type == "Transpose" and copy in n.output)
        transpose, weight = nodes[at], nodes[at].input[0]
        perm = next((list(a.ints) for a in transpose.attribute if a.name == "perm"), [1, 0])
        if weight not in constants or len(constants[weight].dims) != 2 or perm != [1, 0]:
            continue
        users = [i for i, n in enumerate(nodes) if copy in n.input]
        if copy in outputs or not users or not all(_gathers_rows(nodes[i], copy) for i in users):
            continue
        ranks = {i: _rank(graph, nodes[i].input[1]) for i in users}
        replaced: dict[int, list[onnx.NodeProto]] = {at: []}
        for i, rank in ranks.items():
            if rank is None:
                break
            (picked,) = nodes[i].output
            columns = f"{picked}.columns"  # [hidden, *ids.shape]
            replaced[i] = [
                helper.make_node("Gather", [weight, nodes[i].input[1]], [columns], axis=1),
                helper.make_node("Transpose", [columns], [picked], perm=[*range(1, rank + 1), 0]),
            ]
        else:
            del graph.node[:]
            graph.node.extend(new for i, n in enumerate(nodes) for new in replaced.get(i, [n]))
    return model
