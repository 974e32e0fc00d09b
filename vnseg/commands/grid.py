"""Prediction grid PNG: image | ground truth | model A | model B ... for chosen or random test
patches, masks in the class palette, with a legend.

Models: --model NAME CONFIG CHECKPOINT (repeatable; the checkpoint must fit the config;
        NAME CONFIG without a checkpoint only with --random-weights) and/or
        --pred-dir NAME DIR (repeatable; PNGs saved by `tools/test.py --out-dir DIR`).
Patches: the first model config's test split, or --img-dir/--ann-dir; --patches NAME ... picks
         them by file name or stem, else --num random ones (--seed).

Example:
  python tools/analysis_tools/prediction_grid.py --model B2 configs/b2.py work_dirs/b2/best.pth \
      --model B2-distilled configs/b2_kd.py work_dirs/b2_kd/best.pth --num 4 --out grid.png
"""
import argparse

from mmengine.config import DictAction


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', nargs='+', action='append', default=[],
                   metavar='NAME CONFIG [CHECKPOINT]', help='a model column')
    p.add_argument('--random-weights', action='store_true',
                   help='allow --model NAME CONFIG without a checkpoint: an UNTRAINED model')
    p.add_argument('--pred-dir', nargs=2, action='append', default=[], metavar=('NAME', 'DIR'),
                   help='a column of saved predictions')
    p.add_argument('--img-dir', help='images (with --ann-dir) instead of the first config\'s test split')
    p.add_argument('--ann-dir', help='ground-truth masks matching --img-dir')
    p.add_argument('--patches', nargs='+', help='patch file names or stems')
    p.add_argument('--num', type=int, default=4, help='random patches when --patches is not given')
    p.add_argument('--seed', type=int, default=0, help='seed of the random patch choice (default 0)')
    p.add_argument('--out', required=True, help='output PNG')
    p.add_argument('--panel-size', type=float, default=2.0, help='inches per panel')
    p.add_argument('--dpi', type=int, default=100, help='dots per inch (default 100)')
    p.add_argument('--device', default='cpu', help='torch device for the models (default cpu)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of every model config')
    args = p.parse_args(argv)
    for spec in args.model:
        if len(spec) not in (2, 3):
            p.error(f'--model takes NAME CONFIG CHECKPOINT, got {spec}')
        if len(spec) == 2 and not args.random_weights:
            p.error(f'--model {" ".join(spec)}: no CHECKPOINT; give one, or --random-weights for an '
                    'untrained model on purpose')
    if not args.model and not args.pred_dir:
        p.error('give at least one --model or --pred-dir')
    if not args.model and not (args.img_dir and args.ann_dir):
        p.error('with only --pred-dir, give --img-dir and --ann-dir')
    return args


def main(argv=None):
    args = parse_args(argv)
    from vnseg.commands.flags import options_from_args
    from vnseg.reports.figures import GridOptions, LoadOptions, prediction_grid_figure
    out = prediction_grid_figure(args.out, models=[tuple(m) for m in args.model],
                                 pred_dirs=[tuple(d) for d in args.pred_dir], grid=options_from_args(GridOptions, args),
                                 loading=options_from_args(LoadOptions, args))
    print(f"wrote {out['png']} ({len(out['patches'])} patches; columns: {', '.join(out['columns'])})")

