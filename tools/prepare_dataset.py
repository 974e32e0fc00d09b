#!/usr/bin/env python
"""Scenes (labelme/AnyLabeling JSON, or image + mask) -> train-ready patches in mmseg's layout.

    python tools/prepare_dataset.py SRC OUT [--patch-size 512] [--split-mode scene|patch] [--seed 0]

Writes OUT/img_dir/{train,val,test}, OUT/ann_dir/{...}, OUT/scenes, OUT/summary.json and
OUT/class_distribution.png (see ``vnseg/data/prepare.py``). Bad inputs are listed at the end and
make the exit status 1; ``--strict`` stops at the first one.
"""
import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vnseg.data.io import DEFAULT_MAX_PIXELS, DataError
from vnseg.data.prepare import PrepareError, prepare_dataset


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', help='source folder of scenes')
    p.add_argument('out', help='output folder')
    p.add_argument('--patch-size', type=int, default=512, help='patch side, pixels (default 512)')
    p.add_argument('--stride', type=int, default=None, help='window step, pixels (default: patch size, no overlap)')
    p.add_argument('--edge', choices=('shift', 'pad', 'drop'), default='shift',
                   help='border windows: shift flush with the border (default), pad with ignore, or drop')
    p.add_argument('--split-mode', choices=('scene', 'patch'), default='scene',
                   help='scene: no scene in two splits (default); patch: shuffle patches (leaks neighbours)')
    p.add_argument('--ratios', type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-augment', dest='augment', action='store_false', help='no augmented train copies')
    p.add_argument('--num-augment', type=int, default=1,
                   help='augmented copies per train patch (0-7; default 1 doubles train, as in the study)')
    p.add_argument('--background-threshold', type=float, default=1.0,
                   help='drop patches whose background+ignore share is >= this (1.0: only all-background; '
                        'a value above 1 keeps every patch)')
    p.add_argument('--labels', default=None, help='label map for JSON (.json {label: class} or labels.txt)')
    p.add_argument('--color-table', default=None,
                   help="colour masks: preset ('vnseg', 'dubai') or JSON {colour: class}")
    p.add_argument('--mask-format', choices=('auto', 'index', 'color'), default='auto')
    p.add_argument('--pixel-origin', choices=('corner', 'center'), default='corner')
    p.add_argument('--line-width', type=float, default=10.0)
    p.add_argument('--point-radius', type=float, default=5.0)
    p.add_argument('--max-pixels', type=int, default=DEFAULT_MAX_PIXELS,
                   help=f'refuse larger images (default {DEFAULT_MAX_PIXELS:,})')
    p.add_argument('--strict', action='store_true', help='stop at the first bad input')
    p.add_argument('--no-chart', dest='chart', action='store_false')
    p.add_argument('--no-progress', action='store_true')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    threshold = None if args.background_threshold > 1 else args.background_threshold
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            summary = prepare_dataset(
                args.src, args.out, patch_size=args.patch_size, stride=args.stride, split_mode=args.split_mode,
                ratios=args.ratios, seed=args.seed, augment=args.augment, num_augment=args.num_augment,
                background_threshold=threshold, edge=args.edge, label_map=args.labels,
                color_table=args.color_table, mask_format=args.mask_format, pixel_origin=args.pixel_origin,
                line_width=args.line_width, point_radius=args.point_radius, max_pixels=args.max_pixels,
                strict=args.strict, progress=not args.no_progress, chart=args.chart)
        except (PrepareError, DataError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
    for w in caught:
        print(f'warning: {w.message}', file=sys.stderr)
    splits = summary['splits']
    print(f"{summary['num_scenes']} scene(s) -> " + ', '.join(
        f"{s}: {splits[s]['patches']} patches ({splits[s]['scenes']} scenes)" for s in splits)
        + f"; +{splits['train']['augmented']} augmented; "
          f"{summary['skipped_patches']['background']} background patch(es) dropped; "
          f"summary: {Path(args.out) / 'summary.json'}")
    if summary['skipped_files']:
        print(f"{len(summary['skipped_files'])} non-annotation JSON file(s) skipped")
    if summary['failures']:
        print(f"{len(summary['failures'])} input(s) failed:", file=sys.stderr)
        for f in summary['failures']:
            print(f"  {f['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
