"""Figures that need data or a model first: gather the inputs, then render with :mod:`plots`.

Used by ``tools/analysis_tools/{confusion_matrix,prediction_grid}.py`` and by the demo.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from vnseg.core.classes import CLASSES, PALETTE
from vnseg.data.io import read_image

from . import confusion, plots


@dataclass(frozen=True)
class LoadOptions:
    """How a figure's models are loaded (:func:`vnseg.apis.load_model`); the fields are the commands' flags.

    Args:
        device: torch device of the models.
        cfg_options: overrides merged into every model's config.
        random_weights: a model without a checkpoint is built untrained, on purpose (smoke tests).
    """

    device: str = 'cpu'
    cfg_options: Optional[dict] = None
    random_weights: bool = False


@dataclass(frozen=True)
class ConfusionSource:
    """Where :func:`confusion_matrix_figure` takes its matrix from: exactly one of ``metrics``, ``pred_dir`` (with
    ``ann_dir``) or ``config``; the fields are ``vnseg confusion``'s arguments.

    Args:
        config: a model config (+ ``checkpoint``): the model runs over the config's test split, or over
            ``img_dir`` + ``ann_dir``, the first ``limit`` patches.
        checkpoint: the weights of ``config``.
        pred_dir: saved prediction PNGs (with ``ann_dir``).
        ann_dir: the ground-truth masks.
        img_dir: the images (with ``ann_dir``) instead of the config's test split.
        metrics: a metrics JSON / work dir holding ``confusion_matrix`` (nothing is rerun).
        limit: use only the first N test patches.
    """

    config: Optional[str] = None
    checkpoint: Optional[str] = None
    pred_dir: Optional[str] = None
    ann_dir: Optional[str] = None
    img_dir: Optional[str] = None
    metrics: Optional[str] = None
    limit: Optional[int] = None


def confusion_matrix_figure(out_dir, source: ConfusionSource, loading: LoadOptions = LoadOptions(),
                            title: Optional[str] = None, prefix: str = 'confusion_matrix') -> dict:
    """Compute a confusion matrix from ONE source and write the figure and CSVs.

    Args:
        out_dir: the output folder.
        source: where the matrix comes from (:class:`ConfusionSource`).
        loading: how a model source's model is loaded.
        title: the figure's title.
        prefix: the output files' stem.

    Writes into ``out_dir``: ``<prefix>.png`` (row-normalised %), ``<prefix>.csv`` (pixel
    counts), ``<prefix>_normalized.csv`` (row fractions). Returns ``dict(png=, csv=,
    csv_normalized=, matrix=(C, C) int64, classes=list)``.
    """
    metrics, pred_dir, config, ann_dir = source.metrics, source.pred_dir, source.config, source.ann_dir
    sources = [metrics is not None, pred_dir is not None, config is not None]
    if sum(sources) != 1:
        raise ValueError('give exactly one source: metrics, pred_dir (+ ann_dir) or config')
    if metrics is not None:
        conf, classes = confusion.confusion_from_metrics(metrics)
    elif pred_dir is not None:
        if ann_dir is None:
            raise ValueError('pred_dir needs ann_dir')
        conf, _ = confusion.confusion_from_pred_dir(pred_dir, ann_dir)
        classes = list(CLASSES)
    else:
        conf, classes = confusion.confusion_from_model(
            config, source.checkpoint, device=loading.device, cfg_options=loading.cfg_options,
            img_dir=source.img_dir, ann_dir=ann_dir, limit=source.limit, random_weights=loading.random_weights)
    os.makedirs(out_dir, exist_ok=True)
    out = dict(matrix=conf, classes=list(classes))
    out['png'] = plots.render_confusion_matrix(conf, classes, osp.join(out_dir, prefix + '.png'),
                                               title=title)
    out['csv'] = confusion.save_csv(conf, classes, osp.join(out_dir, prefix + '.csv'))
    out['csv_normalized'] = confusion.save_csv(
        conf, classes, osp.join(out_dir, prefix + '_normalized.csv'), normalized=True)
    return out


def select_patches(pairs, patches=None, num=4, seed=0):
    """Choose image/annotation pairs for a grid.

    Args:
        pairs (list[tuple[str, str]]): all (image path, annotation path).
        patches (list[str], optional): wanted file names or stems (``'p_0003.png'`` or
            ``'p_0003'``); order kept. ``KeyError`` for a name that is not there.
        num (int): how many to draw at random when ``patches`` is not given (all if fewer).
        seed (int): seed of the random draw (same seed -> same patches).

    Returns:
        list[tuple[str, str]]: the chosen pairs (random ones in dataset order).
    """
    if patches:
        index = {}
        for pair in pairs:
            name = osp.basename(pair[0])
            index[name] = pair
            index[osp.splitext(name)[0]] = pair
        missing = [p for p in patches if p not in index]
        if missing:
            raise KeyError(f'patches not in the test set: {missing}')
        return [index[p] for p in patches]
    if num >= len(pairs):
        return list(pairs)
    chosen = np.random.default_rng(seed).choice(len(pairs), size=num, replace=False)
    return [pairs[i] for i in sorted(chosen)]


@dataclass(frozen=True)
class GridOptions:
    """Which patches a prediction grid shows, and how large; the fields are ``vnseg grid``'s flags.

    Args:
        img_dir: the patches' images; default: the first model config's test split (required when only
            prediction folders are given).
        ann_dir: their ground-truth masks (with ``img_dir``).
        patches: wanted file names or stems; ``num``, ``seed``: else that many drawn at random
            (:func:`select_patches`).
        num: random patches when ``patches`` is not given.
        seed: seed of the random draw.
        panel_size: the side of one panel, inches.
        dpi: dots per inch; pixel size ``plots.prediction_grid_size(len(patches), 2 + n_models, panel_size,
            dpi=dpi)``.
    """

    img_dir: Optional[str] = None
    ann_dir: Optional[str] = None
    patches: Optional[Sequence[str]] = None
    num: int = 4
    seed: int = 0
    panel_size: float = 2.0
    dpi: int = 100


def prediction_grid_figure(out_path, models: Sequence[tuple] = (), pred_dirs: Sequence[tuple] = (),
                           grid: GridOptions = GridOptions(), loading: LoadOptions = LoadOptions()) -> dict:
    """Prediction grid ``image | ground truth | model ...`` for chosen or random test patches.

    Args:
        out_path (str): PNG path.
        models (Sequence[tuple]): ``(name, config, checkpoint)``; ``(name, config)`` or a
            ``None`` checkpoint only with ``loading.random_weights`` (untrained models on purpose).
        pred_dirs (Sequence[tuple[str, str]]): ``(name, dir)`` of saved prediction PNGs
            (``<dir>/<image stem>.png``, as ``tools/test.py --out-dir`` writes them).
        grid: the patches and the size (:class:`GridOptions`).
        loading: how the models are loaded (:class:`LoadOptions`).

    Returns ``dict(png=out_path, patches=[image paths], columns=[titles])``.
    """
    from vnseg.apis.model_loading import load_model

    from . import predictions
    loaded = []
    for spec in models:
        name, config = spec[0], spec[1]
        checkpoint = spec[2] if len(spec) > 2 else None
        loaded.append((name, load_model(config, checkpoint, device=loading.device, cfg_options=loading.cfg_options,
                                        random_weights=loading.random_weights and checkpoint is None)))
    if not loaded and not pred_dirs:
        raise ValueError('give at least one model or prediction dir')
    cfg = loaded[0][1].cfg if loaded else None
    pairs = select_patches(predictions.resolve_pairs(cfg, grid.img_dir, grid.ann_dir), grid.patches, grid.num,
                           grid.seed)
    classes = predictions.model_classes(loaded[0][1]) if loaded else CLASSES
    palette = predictions.model_palette(loaded[0][1]) if loaded else PALETTE
    rows = []
    for img_path, ann_path in pairs:
        stem = osp.splitext(osp.basename(img_path))[0]
        masks = [confusion.read_mask(ann_path)]
        masks += [predictions.predict(model, img_path) for _, model in loaded]
        for name, directory in pred_dirs:
            pred_path = osp.join(directory, stem + '.png')
            if not osp.isfile(pred_path):
                raise FileNotFoundError(f'{name}: no prediction {pred_path}')
            masks.append(confusion.read_mask(pred_path))
        rows.append(dict(name=stem, image=read_image(img_path).rgb, masks=masks))
    columns = ['image', 'ground truth'] + [n for n, _ in loaded] + [n for n, _ in pred_dirs]
    plots.render_prediction_grid(rows, columns, out_path, classes=classes, palette=palette,
                                 panel_inches=grid.panel_size, dpi=grid.dpi)
    return dict(png=out_path, patches=[p[0] for p in pairs], columns=columns)
