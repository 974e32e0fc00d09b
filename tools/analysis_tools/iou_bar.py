"""Per-class IoU bar chart (percent) from one or more metrics JSON files / work dirs.

Several inputs give grouped bars, one colour per run. Undefined (NaN) classes are marked n/a.

Example:
  python tools/analysis_tools/iou_bar.py work_dirs/a work_dirs/b --names A B --out iou.png
"""
import argparse


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('metrics', nargs='+', help='metrics JSON files or work dirs')
    p.add_argument('--names', nargs='+', help='legend name per run (default: the run folder name)')
    p.add_argument('--metric', default='IoU', help='per-class family: IoU, Acc, Dice, ...')
    p.add_argument('--out', required=True, help='output PNG')
    p.add_argument('--title', help='figure title')
    p.add_argument('--width', type=float, default=8.0, help='inches')
    p.add_argument('--height', type=float, default=4.5, help='inches')
    p.add_argument('--dpi', type=int, default=100, help='dots per inch (default 100)')
    args = p.parse_args(argv)
    if args.names and len(args.names) != len(args.metrics):
        p.error('--names needs one name per metrics input')
    return args


def main(argv=None):
    args = parse_args(argv)
    from vnseg.reports.plots import render_iou_bar
    path = render_iou_bar(args.metrics, args.out, labels=args.names, family=args.metric,
                          title=args.title, figsize=(args.width, args.height), dpi=args.dpi)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
