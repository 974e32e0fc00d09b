"""Model cards: what a trained model is, written beside it as Markdown (people) and JSON (tools).

A card holds the classes (English and Vietnamese names, palette), a summary of the training data
(from ``tools/prepare_dataset.py``'s ``summary.json`` when it can be found from the config's data
root), the ground resolution (cm per pixel: the given value, else the training GSD recorded in the
checkpoint's ``meta['gsd_cm']``, see :mod:`vnseg.data.gsd`), the config and architecture, the training
iterations/epochs recorded in the checkpoint, the test metrics (``tools/test.py``) and the parameter
count. Written by ``tools/test.py`` into the work dir and by ``tools/deployment/export_onnx.py``
beside every exported model.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Optional

from vnseg.core.atomic import atomic_output
from vnseg.core.classes import CLASSES, CLASSES_VI, PALETTE

__all__ = ['build_model_card', 'write_model_card', 'render_markdown', 'find_data_summary', 'checkpoint_meta',
           'load_test_metrics']

CARD_VERSION = 1


def _dataset_roots(cfg) -> list:
    """``data_root`` values of the config's train/val/test datasets (wrappers unwrapped)."""
    roots = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = (cfg.get(key) or {}).get('dataset')
        for _ in range(5):
            if ds is None:
                break
            if ds.get('data_root'):
                roots.append(str(ds['data_root']))
            ds = ds.get('dataset') or (ds.get('datasets') or [None])[0]
    return list(dict.fromkeys(roots))


def find_data_summary(cfg) -> Optional[Path]:
    """``summary.json`` written by ``tools/prepare_dataset.py`` in (or above) a dataset's data root."""
    for root in _dataset_roots(cfg):
        for folder in (Path(root), Path(root).parent):
            if (folder / 'summary.json').is_file():
                return folder / 'summary.json'
    return None


def _data_summary(path: Path) -> dict:
    """The part of a ``summary.json`` a model card shows."""
    doc = json.loads(Path(path).read_text())
    splits = {name: {k: s.get(k) for k in ('scenes', 'patches', 'augmented')}
              for name, s in (doc.get('splits') or {}).items()}
    params = doc.get('params') or {}
    return dict(summary_file=str(path), source=doc.get('src'), scenes=doc.get('num_scenes'), splits=splits,
                patch_size=params.get('patch_size'), split_mode=params.get('split_mode'),
                train_class_shares=(doc.get('splits') or {}).get('train', {}).get('class_shares'),
                gsd=doc.get('gsd'))


def checkpoint_meta(checkpoint) -> dict:
    """``meta`` of an MMEngine checkpoint (epoch, iter, dataset_meta, ...), read by
    :func:`vnseg.openmmlab.checkpoints.read_checkpoint`; empty when the file has none or cannot be read."""
    from vnseg.openmmlab.checkpoints import CheckpointError, read_checkpoint
    try:
        ckpt = read_checkpoint(checkpoint)
    except CheckpointError:
        return {}
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return meta if isinstance(meta, dict) else {}


def load_test_metrics(checkpoint) -> Optional[dict]:
    """``metrics_test.json`` written by ``tools/test.py`` next to ``checkpoint``, when it exists and
    names that checkpoint (or names none)."""
    path = Path(checkpoint).with_name('metrics_test.json')
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    named = doc.get('checkpoint')
    if named and Path(named).resolve() != Path(checkpoint).resolve():
        return None
    return doc


def _classes_table(classes, palette) -> list:
    rows = []
    for i, name in enumerate(classes):
        vi = CLASSES_VI[CLASSES.index(name)] if name in CLASSES else None
        colour = list(map(int, palette[i])) if i < len(palette) else None
        rows.append(dict(id=i, name=name, name_vi=vi, color=colour))
    return rows


def _metric_subset(metrics: Optional[dict]) -> Optional[dict]:
    if not metrics:
        return None
    keep = {k: v for k, v in metrics.items()
            if k in ('aAcc', 'mIoU', 'mAcc', 'mFscore', 'mDice') or k.startswith(('IoU.', 'Acc.'))}
    return keep or None


def build_model_card(cfg, checkpoint=None, model=None, metrics: Optional[dict] = None,
                     resolution_cm: Optional[float] = None, config_path=None, extra: Optional[dict] = None) -> dict:
    """The card of a model as a JSON-able dict.

    Args:
        cfg: the model's ``mmengine.Config``.
        checkpoint: weights file (for iterations, epochs and class names recorded in it).
        model: the built model (for the parameter count and ``dataset_meta``).
        metrics: test metrics (``tools/test.py``'s dict); default: ``metrics_test.json`` next to the
            checkpoint when it names it.
        resolution_cm: ground resolution the model was trained at, cm per pixel (None: the
            checkpoint's recorded training GSD, ``meta['gsd_cm']``, else unknown).
        config_path: the config file.
        extra: more top-level entries (e.g. an export's settings and parity).
    """
    from vnseg.core.version import __version__
    from vnseg.data.gsd import GSD_META_KEY, valid_gsd_cm
    meta = checkpoint_meta(checkpoint) if checkpoint else {}
    if resolution_cm is None:
        resolution_cm = valid_gsd_cm(meta.get(GSD_META_KEY))
    ds_meta = (getattr(model, 'dataset_meta', None) or meta.get('dataset_meta') or {})
    classes = list(ds_meta.get('classes') or CLASSES)
    palette = [list(map(int, c)) for c in (ds_meta.get('palette') or PALETTE)]
    if metrics is None and checkpoint:
        metrics = load_test_metrics(checkpoint)
    summary_path = find_data_summary(cfg)
    mcfg = cfg.get('model') or {}
    if mcfg.get('type') == 'DistillSegmentor' and mcfg.get('student'):
        mcfg = mcfg['student']
    arch = dict(segmentor=mcfg.get('type'), backbone=(mcfg.get('backbone') or {}).get('type'),
                decode_head=(mcfg.get('decode_head') or {}).get('type'),
                auxiliary_head=(mcfg.get('auxiliary_head') or {}).get('type'))
    params = None
    if model is not None:
        params = int(sum(p.numel() for n, p in model.named_parameters() if not n.startswith('teacher.')))
    train_cfg = cfg.get('train_cfg') or {}
    card = dict(
        card_version=CARD_VERSION, vnseg_version=__version__,
        written=datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        model=dict(name=Path(config_path).stem if config_path else cfg.get('filename') and Path(cfg.filename).stem,
                   config=str(config_path or cfg.get('filename') or ''), architecture=arch,
                   parameters=params, crop_size=list((cfg.get('crop_size') or ())) or None),
        classes=_classes_table(classes, palette), ignore_index=255,
        ground_resolution_cm=resolution_cm,
        training=dict(checkpoint=str(checkpoint) if checkpoint else None, epoch=meta.get('epoch'),
                      iteration=meta.get('iter'), schedule=dict(type=train_cfg.get('type'),
                                                                max_iters=train_cfg.get('max_iters'),
                                                                max_epochs=train_cfg.get('max_epochs')),
                      data=_data_summary(summary_path) if summary_path else None),
        test_metrics=_metric_subset(metrics))
    card.update(extra or {})
    return card


def _fmt(v, nd=2):
    if v is None:
        return 'unknown'
    if isinstance(v, float):
        return f'{v:.{nd}f}'
    return str(v)


def render_markdown(card: dict) -> str:
    """The card as a Markdown page."""
    m, t = card['model'], card['training']
    a = m['architecture']
    lines = [f"# Model card: {m.get('name') or 'model'}", '',
             f"Written {card['written']} by vnseg {card['vnseg_version']}.", '',
             '## Model', '',
             f"- config: `{m['config']}`",
             f"- architecture: {a.get('segmentor')} / backbone {a.get('backbone')} / head {a.get('decode_head')}"
             + (f" (+ auxiliary {a['auxiliary_head']})" if a.get('auxiliary_head') else ''),
             f"- parameters: {_fmt(m.get('parameters') and round(m['parameters'] / 1e6, 2))} M",
             f"- training crop: {m.get('crop_size') or 'unknown'} px",
             f"- ground resolution: {_fmt(card.get('ground_resolution_cm'), 2)} cm/px", '',
             '## Classes', '', '| id | class | tiếng Việt | colour |', '|---:|---|---|---|']
    for c in card['classes']:
        col = c['color']
        hexcol = '#%02X%02X%02X' % tuple(col) if col else ''
        lines.append(f"| {c['id']} | {c['name']} | {c['name_vi'] or ''} | `{hexcol}` |")
    lines += ['', '255 = ignore / no prediction.', '', '## Training', '',
              f"- checkpoint: `{t.get('checkpoint') or 'none'}`",
              f"- epoch {_fmt(t.get('epoch'))}, iteration {_fmt(t.get('iteration'))} "
              f"(schedule: {t['schedule'].get('type')}, max_iters {_fmt(t['schedule'].get('max_iters'))}, "
              f"max_epochs {_fmt(t['schedule'].get('max_epochs'))})"]
    d = t.get('data')
    if d:
        lines.append(f"- data: {d.get('scenes')} scenes from `{d.get('source')}`, {d.get('patch_size')} px patches, "
                     f"{d.get('split_mode')} split ({d['summary_file']})")
        if (d.get('gsd') or {}).get('note'):
            lines.append(f"- data ground resolution: {d['gsd']['note']}")
        for name, s in (d.get('splits') or {}).items():
            lines.append(f"  - {name}: {s.get('scenes')} scenes, {s.get('patches')} patches"
                         + (f", {s['augmented']} augmented" if s.get('augmented') else ''))
    else:
        lines.append('- data: no prepare_dataset summary.json found from the config\'s data root')
    lines += ['', '## Test metrics', '']
    met = card.get('test_metrics')
    if met:
        lines += ['| metric | value |', '|---|---:|'] + [f'| {k} | {_fmt(v)} |' for k, v in met.items()]
    else:
        lines.append('Not measured (run `tools/test.py CONFIG CHECKPOINT`).')
    for key in [k for k in card if k not in ('card_version', 'vnseg_version', 'written', 'model', 'classes',
                                             'ignore_index', 'ground_resolution_cm', 'training', 'test_metrics')]:
        lines += ['', f'## {key.replace("_", " ").capitalize()}', '', '```json',
                  json.dumps(card[key], indent=1, ensure_ascii=False), '```']
    return '\n'.join(lines) + '\n'


def write_model_card(card: dict, stem) -> tuple:
    """Write ``STEM.model_card.md`` and ``STEM.model_card.json`` (atomically); returns both paths.

    ``stem`` is a path without suffix (e.g. ``work_dir/model_card`` or ``out/model`` for
    ``out/model.onnx``)."""
    stem = Path(stem)
    md = stem.with_name(stem.name + '.md') if stem.name.endswith('model_card') else \
        stem.with_name(stem.name + '.model_card.md')
    js = md.with_suffix('.json')
    with atomic_output(js) as tmp:
        tmp.write_text(json.dumps(card, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    with atomic_output(md) as tmp:
        tmp.write_text(render_markdown(card), encoding='utf-8')
    return md, js
