"""Training loss and validation mIoU curves from runs' logs
(<work_dir>/<timestamp>/vis_data/scalars.json, all timestamps of a resumed run merged).

Example:
  python tools/analysis_tools/training_curves.py work_dirs/a work_dirs/b --out curves.png \
      --loss-keys loss decode.loss_ce --val-keys mIoU IoU.road
"""
import argparse


def parse_args(argv=None):
    from vnseg.cli import ArgumentParser
    from vnseg.reports.tool_args import add_figure_args, add_runs_args, check_runs_args
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_runs_args(p, what='work dirs or scalars.json files')
    p.add_argument('--loss-keys', nargs='+', default=['loss'], help='training keys to plot')
    p.add_argument('--val-keys', nargs='+', default=['mIoU'], help='validation keys to plot')
    p.add_argument('--out', required=True, help='output PNG')
    add_figure_args(p, width=11.0, height=4.0)
    args = p.parse_args(argv)
    check_runs_args(p, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    from vnseg.reports.plots import render_training_curves
    path = render_training_curves(args.runs, args.out, labels=args.names,
                                  loss_keys=args.loss_keys, val_keys=args.val_keys,
                                  title=args.title, figsize=(args.width, args.height),
                                  dpi=args.dpi)
    print(f'wrote {path}')

