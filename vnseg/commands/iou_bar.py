"""Per-class IoU bar chart (percent) from one or more metrics JSON files / work dirs.

Several inputs give grouped bars, one colour per run. Undefined (NaN) classes are marked n/a.

Example:
  python tools/analysis_tools/iou_bar.py work_dirs/a work_dirs/b --names A B --out iou.png
"""


def parse_args(argv=None):
    from vnseg.commands.shared_args import add_figure_args, parse_runs_args, runs_parser
    p = runs_parser(__doc__)
    p.add_argument('--metric', default='IoU', help='per-class family: IoU, Acc, Dice, ...')
    add_figure_args(p, width=8.0, height=4.5)
    return parse_runs_args(p, argv)


def main(argv=None):
    args = parse_args(argv)
    from vnseg.commands.shared_args import figure_options
    from vnseg.reports.plots import render_iou_bar
    path = render_iou_bar(args.runs, args.out, labels=args.names, family=args.metric, **figure_options(args))
    print(f'wrote {path}')

