"""Pre-labels for AnyLabeling / labelme: a trained model's predictions as editable polygons.

For each image, whole-scene inference (:func:`vnseg.apis.infer_large_image`) writes the class map and
confidence raster into ``OUT/predictions/``; then one labelme JSON is written per image -- or, for a
mosaic larger than ``patch_size`` in either direction (too large for a labelling tool), per
``patch_size`` patch, with the patch saved as PNG beside its JSON. A labeller opens ``OUT`` in
AnyLabeling and corrects instead of drawing.

JSON layout (labelme 5 schema, read back by :mod:`vnseg.data.labelme`): ``imagePath`` relative to the
JSON, ``imageData`` null, one ``polygon`` shape per connected region of a predicted class with
``label`` = the class name (``--lang``), mean confidence of its pixels in ``score`` (0..1, as
X-AnyLabeling's model shapes) and in ``description`` (``"confidence 87.5 %"``).

labelme polygons cannot have holes; shapes are painted in list order, so they are written from the
largest outline to the smallest: a region inside a hole of another comes after it and is painted
over it. Background regions are written only where they fill such a hole (elsewhere "nothing
drawn" already means background). Outlines are simplified as a coverage
(``shapely.coverage_simplify``), so neighbouring shapes keep sharing their edges (no slivers, no
gaps). Converting the JSONs back (``tools/json_to_mask.py``) reproduces the predicted class map on
>= 99 % of the predicted pixels (tests/test_prelabel.py measures it).

``review_queue.csv`` ranks images/patches by uncertainty (lowest mean confidence first): label these first.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from vnseg.core.classes import IGNORE_INDEX, class_names
from vnseg.inference.sliding import WindowOptions

__all__ = ['predict_to_labelme', 'class_map_to_shapes', 'PrelabelResult', 'PrelabelOptions']

LOW_CONFIDENCE_PCT = 60


@dataclass
class PrelabelResult:
    """What :func:`predict_to_labelme` wrote.

    Attributes:
        jsons: the labelme JSON files, in order.
        review_queue: ``review_queue.csv``.
        rows: the review-queue rows (dicts), most uncertain first.
        failures: ``[(image, error message)]`` for images that could not be processed.
    """

    jsons: List[Path] = field(default_factory=list)
    review_queue: Optional[Path] = None
    rows: List[dict] = field(default_factory=list)
    failures: List[tuple] = field(default_factory=list)


def class_map_to_shapes(block: np.ndarray, confidence: Optional[np.ndarray], names: Sequence[str],
                        simplify: float = 0.75, min_pixels: int = 0) -> list:
    """labelme shapes of a class-map window.

    Args:
        block: ``uint8 (h, w)`` class ids, 255 = no prediction.
        confidence: optional ``uint8 (h, w)`` max class probability (%).
        names: label per class id.
        simplify: coverage simplification tolerance in pixels (0 = exact pixel outlines).
        min_pixels: regions of fewer pixels are not written (background holes always are).

    Returns:
        shape dicts in paint order (largest outline first), coordinates in pixels of the window
        (corner convention: pixel ``(c, r)`` covers ``[c, c+1) x [r, r+1)``).
    """
    import shapely
    from rasterio import features
    from scipy import ndimage
    from shapely.geometry import Polygon, shape
    valid = block != IGNORE_INDEX
    labels = np.zeros(block.shape, np.int32)
    cls_of = [0]
    n_total = 0
    for c in np.unique(block[valid]):
        lab, n = ndimage.label(block == c)
        labels[lab > 0] = lab[lab > 0] + n_total
        cls_of += [int(c)] * n
        n_total += n
    if n_total == 0:
        return []
    cls_of = np.asarray(cls_of)
    npix = np.bincount(labels.ravel(), minlength=n_total + 1)
    csum = (np.bincount(labels.ravel(), weights=np.where(confidence <= 100, confidence, 0).ravel().astype(float),
                        minlength=n_total + 1) if confidence is not None else None)
    ids, geoms = [], []
    for g, v in features.shapes(labels, mask=valid, connectivity=4):
        ids.append(int(v))
        geoms.append(shape(g))
    geoms = np.asarray(geoms, dtype=object)
    if simplify > 0:
        if hasattr(shapely, 'coverage_simplify'):
            geoms = shapely.coverage_simplify(geoms, simplify, simplify_boundary=False)
        else:  # shapely < 2.1: per polygon (neighbours may leave slivers between them)
            geoms = shapely.simplify(geoms, simplify, preserve_topology=True)
    ids = np.asarray(ids)
    cls = cls_of[ids]
    outlines = np.asarray([Polygon(g.exterior) if g.geom_type == 'Polygon' and not g.is_empty else None
                           for g in geoms], dtype=object)
    keep = np.array([o is not None and o.area > 0 for o in outlines])
    # background only where it fills a hole of another class's region
    fg = np.flatnonzero(keep & (cls != 0))
    bg = np.flatnonzero(keep & (cls == 0))
    if len(bg):
        inside = np.zeros(len(bg), bool)
        if len(fg):
            tree = shapely.STRtree(list(outlines[fg]))
            pts = shapely.point_on_surface(list(geoms[bg]))
            src, _ = tree.query(pts, predicate='within')
            inside[np.unique(src)] = True
        keep[bg[~inside]] = False
    small = (npix[ids] < min_pixels) & (cls != 0)
    keep &= ~small
    order = sorted(np.flatnonzero(keep), key=lambda i: -outlines[i].area)
    shapes = []
    for i in order:
        pts = np.round(np.asarray(geoms[i].exterior.coords)[:-1], 2)
        if len(pts) < 3:
            continue
        s = dict(label=names[cls[i]], points=pts.tolist(), group_id=None, shape_type='polygon', flags={})
        if csum is not None:
            conf = float(csum[ids[i]]) / max(1, int(npix[ids[i]]))
            s['description'] = f'confidence {conf:.1f} %'
            s['score'] = round(conf / 100, 4)
        shapes.append(s)
    return shapes


def _labelme_doc(shapes, image_rel: str, h: int, w: int, extra: dict) -> dict:
    return dict(version='5.3.1', flags={}, shapes=shapes, imagePath=image_rel, imageData=None,
                imageHeight=int(h), imageWidth=int(w), vnseg=extra)


@dataclass(frozen=True)
class PrelabelOptions:
    """How the pre-labels are cut and drawn: the ``vnseg prelabel`` flags of the same names.

    A new pre-label option is a field here named like its flag, the flag in
    :mod:`vnseg.commands.prelabel` (its parser fills the field by name) and its use in
    :func:`predict_to_labelme`.

    Attributes:
        patch_size: images larger than this (px, either side) are cut into patches of this size (>= 64).
        lang: label names, ``'en'`` or ``'vi'``.
        simplify: outline simplification in pixels (0 = exact pixel outlines; :func:`class_map_to_shapes`).
        min_pixels: regions of fewer pixels are not written.
    """
    patch_size: int = 2048
    lang: str = 'en'
    simplify: float = 0.75
    min_pixels: int = 0


#: The windows of pre-labelling: vnseg map's, 4 windows per forward pass.
PRELABEL_WINDOWS = WindowOptions(batch_size=4)


def predict_to_labelme(model_or_config, checkpoint: Optional[str], images: Sequence, out_dir,
                       labels: PrelabelOptions = PrelabelOptions(), windows: WindowOptions = PRELABEL_WINDOWS, *,
                       device: Optional[str] = None, progress: bool = True,
                       cfg_options: Optional[dict] = None) -> PrelabelResult:
    """Write labelme/AnyLabeling pre-labels and ``review_queue.csv`` for ``images`` into ``out_dir``.

    Images that fail (unreadable, not 8-bit...) are listed in ``failures`` and the others go on.
    See the module doc for the layout.

    Args:
        model_or_config, checkpoint: the model (see :func:`vnseg.apis.infer_large_image`).
        images: image paths; out_dir: the output folder.
        labels: patch size, label language, simplification, smallest region.
        windows: whole-scene inference's windows.
        device, cfg_options: where the model runs, and config overrides.
        progress: tqdm progress bar.
    """
    from vnseg.core.errors import ImageReadError
    from .large_image import infer_large_image
    from .gis_outputs import OutputOptions
    from .scene_model import build_scene_model
    if labels.patch_size < 64:
        raise ValueError(f'patch size must be >= 64 px, got {labels.patch_size}')
    out_dir = Path(out_dir)
    model = build_scene_model(model_or_config, checkpoint, device, cfg_options, tile=windows.tile)
    from vnseg.core.classes import CLASSES
    names = list(class_names(labels.lang, list(getattr(model.tile_model, 'classes', None) or CLASSES)))
    result = PrelabelResult()
    model_info = dict(config=str(model_or_config) if isinstance(model_or_config, (str, Path)) else None,
                      checkpoint=str(checkpoint) if checkpoint else None)
    outputs = OutputOptions(polygons=False, preview=False, report=False, lang=labels.lang)
    for image in map(Path, images):
        try:
            res = infer_large_image(model, None, image, out_dir / 'predictions', windows, outputs=outputs,
                                    progress=progress)
        except (ImageReadError, ValueError, OSError) as err:  # a bad image: report it, go on
            result.failures.append((str(image), str(err)))
            continue
        _write_image_labels(image, res, out_dir, names, labels, model_info, result)
    _write_review_queue(result, out_dir)
    return result


def _write_image_labels(image: Path, res, out_dir: Path, names: Sequence[str], labels: PrelabelOptions,
                        model_info: dict, result: PrelabelResult) -> None:
    """The labelme JSONs (and patch PNGs) of one segmented image; their review-queue rows go into
    ``result``."""
    import rasterio
    from rasterio.windows import Window

    from vnseg.geo.raster_io import SourceImage
    from vnseg.geo.vectorize import safe_name
    stem = safe_name(image.stem)
    size = labels.patch_size
    with rasterio.open(res.class_map) as cm:
        conf_ds = rasterio.open(res.confidence) if res.confidence else None
        h, w = cm.height, cm.width
        whole = h <= size and w <= size
        windows = [(0, 0, h, w)] if whole else [
            (r, c, min(size, h - r), min(size, w - c)) for r in range(0, h, size) for c in range(0, w, size)]
        src = None if whole else SourceImage(image)
        try:
            for r, c, ph, pw in windows:
                win = Window(c, r, pw, ph)
                block = cm.read(1, window=win)
                valid = block != IGNORE_INDEX
                if not valid.any():
                    continue
                conf = conf_ds.read(1, window=win) if conf_ds is not None else None
                shapes = class_map_to_shapes(block, conf, names, labels.simplify, labels.min_pixels)
                if whole:
                    name = stem
                    image_rel = os.path.relpath(image.resolve(), out_dir.resolve())
                else:
                    name = f'{stem}_r{r}_c{c}'
                    image_rel = f'{name}.png'
                    _write_patch_png(out_dir / image_rel, src.read_rgb(r, c, ph, pw))
                extra = dict(model_info, source_image=str(image), window=dict(row=r, col=c, height=ph, width=pw))
                json_path = out_dir / f'{name}.json'
                _write_labelme_json(json_path, _labelme_doc(shapes, image_rel, ph, pw, extra))
                result.jsons.append(json_path)
                row = dict(json=json_path.name, image=image_rel, source=str(image), row=r, col=c,
                           height=ph, width=pw, predicted_pixels=int(valid.sum()), shapes=len(shapes))
                row.update(_confidence_columns(conf, valid))
                present = np.bincount(block[valid], minlength=len(names))
                row['classes'] = ' '.join(names[i] for i in np.flatnonzero(present) if i < len(names))
                result.rows.append(row)
        finally:
            if conf_ds is not None:
                conf_ds.close()
            if src is not None:
                src.close()


def _write_patch_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    from vnseg.core.atomic import atomic_output
    with atomic_output(path) as tmp:
        Image.fromarray(rgb.transpose(1, 2, 0)).save(tmp, format='PNG')


def _write_labelme_json(path: Path, doc: dict) -> None:
    from vnseg.core.atomic import atomic_output
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding='utf-8')


def _confidence_columns(conf: Optional[np.ndarray], valid: np.ndarray) -> dict:
    """The review queue's mean confidence (%) and share of pixels below :data:`LOW_CONFIDENCE_PCT`."""
    if conf is None:
        return {}
    cv = conf[valid & (conf <= 100)].astype(np.float64)
    return {'mean_confidence_pct': round(float(cv.mean()), 2) if cv.size else None,
            f'below_{LOW_CONFIDENCE_PCT}pct_share': round(float((cv < LOW_CONFIDENCE_PCT).mean()) * 100, 2)
            if cv.size else None}


def _write_review_queue(result: PrelabelResult, out_dir: Path) -> None:
    """Rank ``result.rows`` (lowest mean confidence first) and write ``review_queue.csv``."""
    from vnseg.core.atomic import atomic_output
    key = 'mean_confidence_pct'
    result.rows.sort(key=lambda r: (r.get(key) if r.get(key) is not None else 101.0, r['json']))
    for i, r in enumerate(result.rows, 1):
        r['rank'] = i
    if result.rows:
        fields = ['rank'] + [k for k in result.rows[0] if k != 'rank']
        result.review_queue = out_dir / 'review_queue.csv'
        with atomic_output(result.review_queue) as tmp:
            with open(tmp, 'w', newline='', encoding='utf-8') as f:
                wr = csv.DictWriter(f, fieldnames=fields)
                wr.writeheader()
                wr.writerows(result.rows)
