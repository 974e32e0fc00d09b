#!/usr/bin/env python
"""Throughput of vnseg's JSON -> mask converter vs a straightforward per-shape PIL rasteriser.

    python benchmarks/json_to_mask.py [--inputs DIR_OR_JSON ...] [--repeat 3] [--synthetic 3 --synthetic-size 1536]

Both converters run in the same process on the same JSON files with the same label map and canvas
size (the JSON's ``imageHeight`` x ``imageWidth``; no image is decoded by either):

* **vnseg**: ``load_annotation`` + ``rasterize_annotation(qa=False)``: all vector shapes burnt in one
  ``rasterio.features.rasterize`` call, raster ``mask`` shapes pasted in order.
* **per-shape PIL** (the labelme way, written here from scratch): for every shape a fresh 'L' canvas,
  ``ImageDraw`` polygon/rectangle/ellipse/line (fill + outline), then ``out[canvas > 0] = class``.

Default inputs: every JSON in ``../shared/data/labelme_json`` and
``../shared/data/dubai_aerial/anylabeling_json_derived`` (when present) plus ``--synthetic`` generated
scenes (larger canvases, tens of polygons). Prints seconds per pass, files per second, the speed
ratio and the pixel agreement between the two (they differ on boundary pixels: PIL paints the
outline and truncates coordinates; vnseg paints pixels whose centre is inside).
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vnseg.data.label_map import LabelMap
from vnseg.data.labelme import NotAnAnnotationError, load_annotation, rasterize_annotation

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------
# baseline: one PIL canvas per shape
# ------------------------------------------------------------------------------------------------
def pil_shape_mask(shape: dict, size, line_width=10, point_radius=5) -> np.ndarray:
    """Bool (H, W) mask of one labelme shape drawn with PIL ImageDraw (labelme-style semantics)."""
    import base64
    import io

    from PIL import Image, ImageDraw
    h, w = size
    canvas = Image.new('L', (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    pts = [tuple(map(float, p)) for p in (shape.get('points') or [])]
    kind = (shape.get('shape_type') or 'polygon').lower()
    if kind == 'rectangle' and len(pts) == 2:
        (x1, y1), (x2, y2) = pts
        draw.rectangle([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], fill=1, outline=1)
    elif kind == 'circle' and len(pts) == 2:
        (cx, cy), (px, py) = pts
        r = ((cx - px) ** 2 + (cy - py) ** 2) ** 0.5
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1, outline=1)
    elif kind in ('line', 'linestrip') and len(pts) >= 2:
        draw.line(pts, fill=1, width=line_width)
    elif kind == 'point' and pts:
        cx, cy = pts[0]
        draw.ellipse([cx - point_radius, cy - point_radius, cx + point_radius, cy + point_radius], fill=1, outline=1)
    elif kind == 'mask' and shape.get('mask'):
        patch = Image.open(io.BytesIO(base64.b64decode(shape['mask']))).convert('L')
        x0, y0 = (int(v) for v in pts[0])
        canvas.paste(patch.point(lambda v: 1 if v else 0), (x0, y0))
    elif len(pts) >= 3:  # polygon, 4-point rectangle, rotated box
        draw.polygon(pts, fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def pil_json_to_mask(path: Path, label_values: dict) -> np.ndarray:
    data = json.loads(Path(path).read_text(encoding='utf-8'))
    size = (int(data['imageHeight']), int(data['imageWidth']))
    out = np.zeros(size, np.uint8)
    for shape in data['shapes']:
        out[pil_shape_mask(shape, size)] = label_values[shape['label'].strip().casefold()]
    return out


def vnseg_json_to_mask(path: Path, label_map: LabelMap) -> np.ndarray:
    ann = load_annotation(path)
    mask, _ = rasterize_annotation(ann, label_map, qa=False)
    return mask


# ------------------------------------------------------------------------------------------------
def collect_inputs(args, tmp: Path):
    paths = []
    for item in args.inputs:
        p = Path(item)
        paths += sorted(p.rglob('*.json')) if p.is_dir() else [p]
    if args.synthetic:
        out = tmp / 'synthetic'
        subprocess.run([sys.executable, str(REPO / 'demo' / 'generate_scenes.py'), '--out-dir', str(out),
                        '--num-scenes', str(args.synthetic), '--size', str(args.synthetic_size), '--no-progress'],
                       check=True)
        paths += sorted(out.glob('*.json'))
    usable = []
    for p in paths:
        try:
            ann = load_annotation(p)
        except NotAnAnnotationError:
            continue
        if ann.declared_size is not None:
            usable.append(p)
    return usable


def main(argv=None):
    shared = REPO.parent / 'shared' / 'data'
    candidates = (shared / 'labelme_json', shared / 'dubai_aerial' / 'anylabeling_json_derived')
    defaults = [str(d) for d in candidates if d.is_dir()]
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--inputs', nargs='*', default=defaults, help='JSON files or folders')
    parser.add_argument('--repeat', type=int, default=3, help='timed passes over all files (best is kept)')
    parser.add_argument('--synthetic', type=int, default=3, help='generated scenes to add (0: none)')
    parser.add_argument('--synthetic-size', type=int, default=1536, help='side of generated scenes, px')
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        files = collect_inputs(args, Path(tmp))
        if not files:
            print('no JSON inputs found', file=sys.stderr)
            return 1
        labels = sorted({s.label.strip().casefold() for f in files for s in load_annotation(f).shapes})
        values = {label: 1 + i % 254 for i, label in enumerate(labels)}
        label_map = LabelMap(values)

        # warm-up (imports, caches), then best of N passes for each
        vnseg_json_to_mask(files[0], label_map)
        pil_json_to_mask(files[0], values)
        t_vnseg, t_pil = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ours = [vnseg_json_to_mask(f, label_map) for f in files]
            t_vnseg.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            theirs = [pil_json_to_mask(f, values) for f in files]
            t_pil.append(time.perf_counter() - t0)
        equal = sum(int((a == b).sum()) for a, b in zip(ours, theirs))
        total = sum(a.size for a in ours)
        per_file = [float((a == b).mean()) for a, b in zip(ours, theirs)]
        shapes = sum(len(load_annotation(f).shapes) for f in files)

    best_v, best_p = min(t_vnseg), min(t_pil)
    print(f'files: {len(files)} ({shapes} shapes, {total / 1e6:.1f} Mpixel per pass), best of {args.repeat} passes')
    print(f'vnseg (rasterio, one call per file): {best_v:.3f} s/pass  {len(files) / best_v:8.1f} files/s  '
          f'{total / best_v / 1e6:8.1f} Mpx/s')
    print(f'per-shape PIL (labelme way)        : {best_p:.3f} s/pass  {len(files) / best_p:8.1f} files/s  '
          f'{total / best_p / 1e6:8.1f} Mpx/s')
    print(f'speed ratio vnseg / per-shape PIL  : {best_p / best_v:.2f}x')
    print(f'pixel agreement                    : {100.0 * equal / total:.3f} % overall, '
          f'min per file {100.0 * min(per_file):.3f} %')
    return 0


if __name__ == '__main__':
    sys.exit(main())
