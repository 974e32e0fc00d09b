"""Finding scenes in a source folder and loading each one as (RGB image, class mask).

A *scene* is one annotated image, either

* a labelme/AnyLabeling JSON (any ``*.json``; its image comes from ``imageData`` or ``imagePath``,
  which must stay inside the source folder), or
* an image with a mask file: ``<x>/images/<stem>.<ext>`` with ``<x>/masks/<stem>.png`` (folder
  names: images/image/imgs/img/img_dir and masks/mask/labels/label/ann/anns/annotations/gt/ann_dir),
  or ``<stem>.<ext>`` with ``<stem>_mask.png`` / ``_label`` / ``_gt`` in the same folder.

An image whose folder also holds ``<stem>.json`` belongs to that JSON. Hidden folders (``.x``) and
the output folder are skipped. Scene ids are derived from the relative path (``/`` -> ``__``, other
unsafe characters -> ``_``), so they are valid, unique file stems.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from vnseg.core.classes import IGNORE_INDEX
from vnseg.core.errors import DataError
from vnseg.data.color_mask import ColorTable, mask_from_array
from vnseg.data.io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, read_image, read_mask_image
from vnseg.data.label_map import LabelMap
from vnseg.data.labelme import (load_annotation, load_annotation_image,
                                rasterize_annotation, resolve_image_path)

IMAGE_DIR_NAMES = ('images', 'image', 'imgs', 'img', 'img_dir')
MASK_DIR_NAMES = ('masks', 'mask', 'labels', 'label', 'ann', 'anns', 'annotations', 'gt', 'ann_dir')
MASK_STEM_SUFFIXES = ('_mask', '_label', '_gt')
MASK_FILE_SUFFIXES = ('.png', '.tif', '.tiff', '.bmp', '.gif')


@dataclass
class SceneSource:
    """Where a scene comes from. ``kind`` is ``'json'`` or ``'pair'``; paths are absolute."""

    scene_id: str
    kind: str
    source: Path
    mask_path: Optional[Path] = None


@dataclass
class LoadedScene:
    """A scene ready for patching: ``image`` (H, W, 3) uint8 RGB, ``mask`` (H, W) uint8."""

    image: np.ndarray
    mask: np.ndarray
    image_path: Optional[Path]
    warnings: list = field(default_factory=list)
    qa: dict = field(default_factory=dict)


def _safe_id(rel: Path) -> str:
    parts = [re.sub(r'[^A-Za-z0-9._-]+', '_', p).strip('_') or '_' for p in rel.parts]
    return '__'.join(parts)


def _find_mask(image: Path) -> Optional[Path]:
    parent = image.parent
    if parent.name.lower() in IMAGE_DIR_NAMES:
        for sibling in sorted(parent.parent.iterdir()):
            if sibling.is_dir() and sibling.name.lower() in MASK_DIR_NAMES:
                for ext in MASK_FILE_SUFFIXES:
                    candidate = sibling / (image.stem + ext)
                    if candidate.is_file():
                        return candidate
    for suffix in MASK_STEM_SUFFIXES:
        for ext in MASK_FILE_SUFFIXES:
            candidate = parent / (image.stem + suffix + ext)
            if candidate.is_file():
                return candidate
    return None


def discover_scenes(src, exclude: Optional[Path] = None) -> Tuple[List[SceneSource], List[Path]]:
    """Scenes under ``src`` (sorted by path) and the images that are neither JSON- nor mask-paired.

    Args:
        src: source folder.
        exclude: a folder to skip (e.g. the output folder when it lies inside ``src``).
    """
    src = Path(src).resolve()
    if not src.is_dir():
        raise DataError(src, 'source folder not found')
    exclude = Path(exclude).resolve() if exclude is not None else None
    jsons, images = [], []
    for root, dirs, files in os.walk(src):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith('.')
                         and (exclude is None or (root_path / d).resolve() != exclude))
        for name in sorted(files):
            if name.startswith('.'):
                continue
            path = root_path / name
            suffix = path.suffix.lower()
            if suffix == '.json':
                jsons.append(path)
            elif suffix in IMAGE_SUFFIXES and root_path.name.lower() not in MASK_DIR_NAMES \
                    and not path.stem.lower().endswith(MASK_STEM_SUFFIXES):
                images.append(path)
    json_keys = {(p.parent, p.stem) for p in jsons}
    scenes, unpaired = [], []
    for p in jsons:
        scenes.append(SceneSource(_safe_id(p.relative_to(src).with_suffix('')), 'json', p))
    for p in images:
        if (p.parent, p.stem) in json_keys:
            continue
        mask = _find_mask(p)
        if mask is None:
            unpaired.append(p)
            continue
        rel = p.relative_to(src)
        if rel.parent.name.lower() in IMAGE_DIR_NAMES:
            rel = rel.parent.parent / rel.stem
        else:
            rel = rel.with_suffix('')
        scenes.append(SceneSource(_safe_id(rel), 'pair', p, mask))
    scenes.sort(key=lambda s: str(s.source))
    taken = set()
    for s in scenes:  # make ids unique (case-insensitively, for case-insensitive file systems)
        base, k = s.scene_id, 1
        while s.scene_id.lower() in taken:
            k += 1
            s.scene_id = f'{base}-{k}'
        taken.add(s.scene_id.lower())
    return scenes, unpaired


def load_scene(scene: SceneSource, src, *, label_map: LabelMap, color_table: Optional[ColorTable] = None,
               mask_format: str = 'auto', pixel_origin: str = 'corner', line_width: float = 10.0,
               point_radius: float = 5.0, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedScene:
    """Decode a scene's image and build its class mask.

    Transparent pixels of an RGBA image become ``IGNORE_INDEX`` in the mask. Raises a
    :class:`~vnseg.core.errors.DataError` subclass naming the file for every bad input;
    :class:`~vnseg.data.labelme.NotAnAnnotationError` for JSON files that are not annotations.
    """
    if scene.kind == 'json':
        ann = load_annotation(scene.source)
        image = load_annotation_image(ann, root=src, max_pixels=max_pixels)
        image_path = None if ann.image_data else resolve_image_path(ann, src)
        mask, report = rasterize_annotation(ann, label_map, image.shape, on_unknown='error',
                                            line_width=line_width, point_radius=point_radius,
                                            pixel_origin=pixel_origin, qa=True)
        qa = report.to_dict()
        qa.pop('file', None)
        qa.pop('image_size', None)
        qa.pop('class_pixels', None)
        qa.pop('shape_types', None)
        qa['overlaps'] = qa['overlaps'][:10]
    else:
        image = read_image(scene.source, max_pixels)
        image_path = scene.source
        array, mode, palette = read_mask_image(scene.mask_path, max_pixels)
        if array.shape[:2] != image.shape:
            raise DataError(scene.mask_path, f'size mismatch: mask is {array.shape[0]}x{array.shape[1]} but '
                                             f'image {scene.source.name} is {image.shape[0]}x{image.shape[1]}')
        try:
            mask, qa = mask_from_array(array, mode, mask_format, color_table, palette)
        except ValueError as e:
            raise DataError(scene.mask_path, str(e)) from e
    if image.valid is not None:
        mask = mask.copy()
        mask[~image.valid] = IGNORE_INDEX
    return LoadedScene(image=image.rgb, mask=mask, image_path=image_path, warnings=list(image.warnings), qa=qa)
