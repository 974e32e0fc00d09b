"""Confusion matrix of a model on the test split: PNG (row-normalised %, class names) + CSVs.

Sources (pick one):
  --metrics WORK_DIR_OR_JSON            the matrix VNIoUMetric stored in metrics_test.json (no rerun)
  --pred-dir DIR --ann-dir DIR          prediction PNGs saved by `tools/test.py --out-dir DIR`
  CONFIG [CHECKPOINT]                   run the model over the config's test split
                                        (or --img-dir/--ann-dir); the checkpoint must fit the
                                        config; an untrained model only with --random-weights

Writes <out-dir>/confusion_matrix.png, confusion_matrix.csv (pixel counts, rows = ground truth,
columns = prediction) and confusion_matrix_normalized.csv (row fractions), and prints the matrix.

Examples:
  python tools/analysis_tools/confusion_matrix.py --metrics work_dirs/segformer_b2 --out-dir figs
  python tools/analysis_tools/confusion_matrix.py configs/x.py work_dirs/x/iter_40000.pth --out-dir figs
"""
import argparse

from mmengine.config import DictAction


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', nargs='?', help='config file (model source)')
    p.add_argument('checkpoint', nargs='?', help='checkpoint file of that config')
    p.add_argument('--random-weights', action='store_true',
                   help='run an UNTRAINED model built from CONFIG (no CHECKPOINT; smoke tests)')
    p.add_argument('--metrics', help='metrics JSON or work dir holding confusion_matrix')
    p.add_argument('--pred-dir', help='dir of saved prediction PNGs')
    p.add_argument('--img-dir', help='images (with --ann-dir) instead of the config test split')
    p.add_argument('--ann-dir', help='ground-truth masks')
    p.add_argument('--out-dir', required=True, help='where the PNG and CSVs go')
    p.add_argument('--prefix', default='confusion_matrix', help='output file name stem')
    p.add_argument('--title', help='figure title')
    p.add_argument('--device', default='cpu', help='torch device for the model (default cpu)')
    p.add_argument('--limit', type=int, help='use only the first N test patches')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = p.parse_args(argv)
    if sum(x is not None for x in (args.config, args.metrics, args.pred_dir)) != 1:
        p.error('give exactly one source: CONFIG [CHECKPOINT], --metrics or --pred-dir')
    if args.pred_dir and not args.ann_dir:
        p.error('--pred-dir needs --ann-dir')
    if args.config is not None and (args.checkpoint is None) != args.random_weights:
        p.error(f'{args.config}: no CHECKPOINT given; give CONFIG CHECKPOINT, or CONFIG '
                '--random-weights for an untrained model on purpose' if args.checkpoint is None else
                f'--random-weights: a CHECKPOINT ({args.checkpoint}) was given too')
    return args


def main(argv=None):
    args = parse_args(argv)
    from vnseg.commands.flags import options_from_args
    from vnseg.reports.figures import ConfusionSource, LoadOptions, confusion_matrix_figure
    out = confusion_matrix_figure(args.out_dir, options_from_args(ConfusionSource, args),
                                  options_from_args(LoadOptions, args), title=args.title, prefix=args.prefix)
    width = max(len(c) for c in out['classes'])
    print('confusion matrix (pixels; rows = ground truth, columns = prediction)')
    print(' ' * width + ' ' + ' '.join(f'{c:>{max(width, 10)}}' for c in out['classes']))
    for name, row in zip(out['classes'], out['matrix']):
        print(f'{name:>{width}} ' + ' '.join(f'{int(v):>{max(width, 10)}}' for v in row))
    for key in ('png', 'csv', 'csv_normalized'):
        print(f'wrote {out[key]}')

