"""The one recursive walk over a nested config, shared by every function that searches or edits one
(:mod:`vnseg.openmmlab.compat`, :mod:`vnseg.openmmlab.pretrained`, :mod:`vnseg.reports.comparison`), and where a
config's train data lives (:func:`train_data_roots`). No imports: it works on plain dicts and lists as well as
mmengine ``Config``/``ConfigDict`` objects.
"""


def walk_config(node):
    """Yield ``(mapping, key, value)`` for every key of every mapping nested in ``node``, parents first.

    ``node`` may be a mapping (anything with ``items``), a list or tuple, or a leaf (nothing yielded).
    A caller may replace ``mapping[key]`` when it is yielded: the walk then goes on below the new
    value, not the old one.
    """
    if hasattr(node, 'items'):
        for key in list(node.keys()):
            yield node, key, node[key]
            if key in node:
                yield from walk_config(node[key])
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from walk_config(item)


def train_data_roots(cfg) -> list:
    """The ``data_root`` values of a config's train dataset, in order, without repeats.

    Dataset wrappers are followed: ``dataset`` (``RepeatDataset``, ``ClassBalancedDataset``) and
    ``datasets`` (``ConcatDataset``, e.g. ``vnseg train --all-scenes``). Empty when none is set.
    """
    roots, todo = [], [(cfg.get('train_dataloader') or {}).get('dataset')]
    while todo:
        dataset = todo.pop(0)
        if not hasattr(dataset, 'get'):
            continue
        if dataset.get('data_root'):
            roots.append(str(dataset['data_root']))
        todo += [dataset.get('dataset')] + list(dataset.get('datasets') or [])
    return list(dict.fromkeys(roots))
