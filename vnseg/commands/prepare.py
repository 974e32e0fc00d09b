"""Scenes (labelme/AnyLabeling JSON, or image + mask) -> train-ready patches in mmseg's layout.

    python tools/prepare_dataset.py SRC --out-dir OUT [--patch-size 512] [--split-mode scene|patch] [--seed 0]
        [--gsd-cm N]

Writes OUT/img_dir/{train,val,test}, OUT/ann_dir/{...}, OUT/scenes, OUT/summary.json,
OUT/class_weights.json (the recipe's CE class weights) and OUT/class_distribution.png (see
``vnseg/data/prepare.py``). Bad inputs are listed at the end and
make the exit status 1; ``--strict`` stops at the first one. Each scene's ground resolution (GSD) comes
from its GeoTIFF's georeferencing, else from ``--gsd-cm``; the summary's training GSD (median of the
train scenes) goes into the trained checkpoints and the ONNX export (:mod:`vnseg.data.gsd`).
"""
import argparse
import sys
import warnings
from pathlib import Path

from vnseg.commands.flags import options_from_args
from vnseg.commands.shared_args import add_annotation_args, add_batch_args
from vnseg.data.prepare import PatchOptions, SceneOptions, SplitOptions, prepare_dataset


def build_parser():
    """The flags; those of the option types fill the fields of the same names (``--patch-size`` is
    ``PatchOptions.patch_size``)."""
    from vnseg.commands.cli import ArgumentParser
    p = ArgumentParser(description=__doc__.split('\n')[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', help='source folder of scenes')
    p.add_argument('-o', '--out-dir', required=True, help='output folder (mmseg layout + summary.json)')
    p.add_argument('--patch-size', type=int, default=512, help='patch side, pixels (default 512)')
    p.add_argument('--stride', type=int, default=None, help='window step, pixels (default: patch size, no overlap)')
    p.add_argument('--edge', choices=('shift', 'pad', 'drop'), default='shift',
                   help='border windows: shift flush with the border (default), pad with ignore, or drop')
    p.add_argument('--split-mode', choices=('scene', 'patch'), default='scene',
                   help='scene: no scene in two splits (default); patch: shuffle patches (leaks neighbours)')
    p.add_argument('--ratios', type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=('TRAIN', 'VAL', 'TEST'),
                   help='split shares (default 0.8 0.1 0.1)')
    p.add_argument('--seed', type=int, default=0, help='seed of the split and the augmentation (default 0)')
    p.add_argument('--num-augment', type=int, default=1,
                   help='augmented copies per train patch, 0-7 (default 1 doubles train, as in the study; '
                        '0: none)')
    background = p.add_mutually_exclusive_group()
    background.add_argument('--background-threshold', type=float, default=1.0, metavar='SHARE',
                            help='drop patches whose background+ignore share is >= SHARE, a number in (0, 1] '
                                 '(default 1.0: drop only patches without any foreground pixel)')
    background.add_argument('--keep-background', action='store_true',
                            help='keep every patch, all-background ones included')
    p.add_argument('--color-table', default=None,
                   help="colour masks: preset ('vnseg', 'dubai') or JSON {colour: class}")
    p.add_argument('--mask-format', choices=('auto', 'index', 'color'), default='auto',
                   help='image + mask scenes: masks hold class indices or colours (default auto: RGB masks '
                        'are colours, grey masks indices, palette masks colours with --color-table else indices)')
    add_annotation_args(p)
    add_batch_args(p)
    p.add_argument('--gsd-cm', type=float, default=None, metavar='N',
                   help='ground resolution of scenes without georeferencing (plain PNG/JPEG), cm per pixel; '
                        'georeferenced scenes use their own')
    p.add_argument('--no-chart', dest='chart', action='store_false',
                   help='skip class_distribution.png (no matplotlib needed)')
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 < args.background_threshold <= 1:
        parser.error(f'--background-threshold must be in (0, 1], got {args.background_threshold}; '
                     'use --keep-background to keep every patch')
    threshold = None if args.keep_background else args.background_threshold
    patches = options_from_args(PatchOptions, args, background_threshold=threshold)
    split, scenes = options_from_args(SplitOptions, args), options_from_args(SceneOptions, args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        summary = prepare_dataset(args.src, args.out_dir, patches, split, scenes, strict=args.strict,
                                  progress=not args.no_progress, chart=args.chart)
    for w in caught:
        print(f'warning: {w.message}', file=sys.stderr)
    splits = summary['splits']
    print(f"{summary['num_scenes']} scene(s) -> " + ', '.join(
        f"{s}: {splits[s]['patches']} patches ({splits[s]['scenes']} scenes)" for s in splits)
        + f"; +{splits['train']['augmented']} augmented; "
          f"{summary['skipped_patches']['background']} background patch(es) dropped; "
          f"summary: {Path(args.out_dir) / 'summary.json'}")
    print(f"ground resolution: {summary['gsd']['note']}")
    if summary['skipped_files']:
        print(f"{len(summary['skipped_files'])} non-annotation JSON file(s) skipped")
    if summary['failures']:
        print(f"{len(summary['failures'])} input(s) failed:", file=sys.stderr)
        for f in summary['failures']:
            print(f"  {f['error']}", file=sys.stderr)
        return 1
    return 0

