"""Fold the shape values that a fixed tile size makes constant, so that weights computed from them become constants.

An exported tile model has one dynamic dimension (the batch); channels, tile size and token counts are
fixed. Exporters still write some of them as arithmetic on ``Shape``: the TorchScript exporter's
``nn.MultiheadAttention`` takes its query and key/value projections out of the packed ``in_proj_weight``
with ``Slice`` bounds computed from ``Shape(x)[-1]`` (the embedding width), so the projection weights
are not constants and neither ONNX Runtime's constant folding nor its quantiser sees them as weights.

:func:`fold_static_dims` replaces each ``Shape`` -- or each ``Gather`` / ``Slice`` of a ``Shape`` with
constant indices -- whose selected dimensions are all static (ONNX shape inference) by an ``int64``
initializer. The graph computes exactly the same values for every batch size; a constant-folding pass
(ONNX Runtime's basic graph optimisations, run by ``quant_pre_process``) then turns the weight slices
into initializers.

:func:`drop_identity_resizes` removes the ``Resize`` nodes whose output has the input's (static) size --
mmseg heads resize every level to the first level's size, the first one to its own size: an exact
identity that still costs a pass over the largest feature map (and, in an int8 graph, a dequantise /
requantise around it).
"""
from __future__ import annotations

import numpy as np

__all__ = ['fold_static_dims', 'drop_identity_resizes']


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


def _static_dims(model) -> dict:
    """``{tensor name: [int or None per dimension]}`` after ONNX shape inference (None = not static)."""
    import onnx
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    out = {}
    g = inferred.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if t.HasField('shape'):
            out[vi.name] = [d.dim_value if d.HasField('dim_value') else None for d in t.shape.dim]
    return out


def _constants(graph) -> dict:
    from onnx import numpy_helper
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == 'Constant' and n.attribute and n.attribute[0].name == 'value':
            values[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return values


def _selected(vec: list, node, constants: dict):
    """The part of the shape vector ``vec`` that a ``Gather`` / ``Slice`` consumer selects, as int64, or None
    when its indices are not constant or a selected dimension is not static."""
    if node.op_type == 'Gather' and _attr(node, 'axis', 0) == 0 and node.input[1] in constants:
        idx = np.asarray(constants[node.input[1]], np.int64)
        picked = [vec[int(i)] if -len(vec) <= int(i) < len(vec) else None for i in idx.reshape(-1)]
        return None if None in picked else np.asarray(picked, np.int64).reshape(idx.shape)
    if node.op_type == 'Slice' and all(i in constants for i in node.input[1:] if i):
        ins = [np.asarray(constants[i], np.int64).reshape(-1) if i else None for i in node.input[1:]] + [None] * 3
        starts, ends, axes, steps = ins[:4]
        if len(starts) != 1 or (axes is not None and int(axes[0]) not in (0, -1)):
            return None
        step = int(steps[0]) if steps is not None else 1
        picked = vec[slice(int(starts[0]), int(ends[0]), step)]
        return None if None in picked else np.asarray(picked, np.int64)
    return None


def fold_static_dims(model) -> int:
    """Replace, in ``model`` (an ``onnx.ModelProto``, edited in place), the ``Shape`` values whose selected
    dimensions are static by initializers; returns how many nodes were replaced (the nodes and
    initializers left without a consumer are removed too, not counted)."""
    from onnx import numpy_helper
    graph = model.graph
    dims, constants = _static_dims(model), _constants(graph)
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    replaced = {}   # output name -> int64 array
    for n in graph.node:
        if n.op_type != 'Shape' or n.input[0] not in dims:
            continue
        full = dims[n.input[0]]
        start, end = _attr(n, 'start', 0), _attr(n, 'end', None)
        vec = full[start:end] if end is not None else full[start:]
        if None not in vec:
            replaced[n.output[0]] = np.asarray(vec, np.int64)
            continue
        for c in consumers.get(n.output[0], []):
            value = _selected(vec, c, constants)
            if value is not None:
                replaced[c.output[0]] = value
    if not replaced:
        return 0
    keep = [n for n in graph.node if not any(o in replaced for o in n.output)]
    for name, value in replaced.items():
        graph.initializer.append(numpy_helper.from_array(value, name))
    _prune(graph, keep)
    return len(replaced)


def _prune(graph, nodes: list):
    """Set ``graph``'s nodes to ``nodes`` less those whose outputs nothing uses (repeatedly), and drop the
    initializers nothing uses (the index constants of the folded shape arithmetic)."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in nodes for i in n.input} | outputs
        alive = [n for n in nodes if any(o in used for o in n.output)]
        if len(alive) == len(nodes):
            break
        nodes = alive
    del graph.node[:]
    graph.node.extend(nodes)
    unused = [i for i in graph.initializer if i.name not in used]
    for i in unused:
        graph.initializer.remove(i)


def drop_identity_resizes(model) -> int:
    """Remove from ``model`` (edited in place) each ``Resize`` whose input and output shapes are the same and
    static but for the batch (ONNX shape inference), its consumers reading its input instead; returns how
    many. (At scale 1 every interpolation mode samples the input's own pixel centres; ``tf_crop_and_resize``,
    which samples a region, is left alone.)"""
    graph = model.graph
    dims = _static_dims(model)
    outputs = {o.name for o in graph.output}
    rename = {}
    for n in graph.node:
        if n.op_type != 'Resize' or n.output[0] in outputs:
            continue
        mode = next((a.s for a in n.attribute if a.name == 'coordinate_transformation_mode'), b'half_pixel')
        a, b = dims.get(n.input[0]), dims.get(n.output[0])
        if mode != b'tf_crop_and_resize' and a and b and len(a) == len(b) and a[1:] == b[1:] and None not in a[1:]:
            rename[n.output[0]] = n.input[0]
    if not rename:
        return 0
    for n in graph.node:
        for k, i in enumerate(n.input):
            while i in rename:
                i = rename[i]
            n.input[k] = i
    _prune(graph, [n for n in graph.node if not (n.op_type == 'Resize' and n.output[0] in rename)])
    return len(rename)
