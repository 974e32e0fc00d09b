"""The one switch that turns off ImageNet/official pretrained-weight downloads in a config.

Study configs point their backbones at the official checkpoints (``init_cfg=dict(type='Pretrained',
checkpoint=URL)`` or ``pretrained=URL``). Offline runs (tests, the demo, air-gapped machines) call
:func:`disable_pretrained` — ``tools/train.py --no-pretrained`` or ``VNSEG_NO_PRETRAINED=1`` do it —
and the models start from random initialisation instead.
"""
import os

from vnseg.core.config_tree import walk_config

ENV_VAR = 'VNSEG_NO_PRETRAINED'


def pretrained_disabled_by_env():
    """True when ``VNSEG_NO_PRETRAINED`` is set to 1/true/yes."""
    return os.environ.get(ENV_VAR, '').strip().lower() in ('1', 'true', 'yes')


def disable_pretrained(cfg_node):
    """Remove every pretrained-weight reference below ``cfg_node`` in place; return how many.

    Handles ``init_cfg`` of type ``Pretrained`` (a dict or inside a list) and string-valued
    ``pretrained`` keys. Works on plain dicts and mmengine ``ConfigDict``/``Config``.
    """
    removed = 0
    for mapping, key, value in walk_config(cfg_node):
        if key == 'pretrained' and isinstance(value, str):
            mapping[key] = None
            removed += 1
        elif key == 'init_cfg' and _is_pretrained_init(value):
            mapping[key] = None
            removed += 1
        elif key == 'init_cfg' and isinstance(value, (list, tuple)):
            kept = [c for c in value if not _is_pretrained_init(c)]
            removed += len(value) - len(kept)
            mapping[key] = kept or None
    return removed


def _is_pretrained_init(value):
    return hasattr(value, 'get') and value.get('type') == 'Pretrained'
