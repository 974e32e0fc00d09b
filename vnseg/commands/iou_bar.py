"""Per-class IoU bar chart (percent) from one or more metrics JSON files / work dirs.

Several inputs give grouped bars, one colour per run. Undefined (NaN) classes are marked n/a.

Example:
  python tools/analysis_tools/iou_bar.py work_dirs/a work_dirs/b --names A B --out iou.png
"""
import argparse


def parse_args(argv=None):
    from vnseg.cli import ArgumentParser
    from vnseg.reports.tool_args import add_figure_args, add_runs_args, check_runs_args
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_runs_args(p)
    p.add_argument('--metric', default='IoU', help='per-class family: IoU, Acc, Dice, ...')
    p.add_argument('--out', required=True, help='output PNG')
    add_figure_args(p, width=8.0, height=4.5)
    args = p.parse_args(argv)
    check_runs_args(p, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    from vnseg.reports.plots import render_iou_bar
    path = render_iou_bar(args.runs, args.out, labels=args.names, family=args.metric,
                          title=args.title, figsize=(args.width, args.height), dpi=args.dpi)
    print(f'wrote {path}')

