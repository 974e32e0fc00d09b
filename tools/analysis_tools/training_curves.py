"""Training loss and validation mIoU curves from runs' logs
(<work_dir>/<timestamp>/vis_data/scalars.json, all timestamps of a resumed run merged).

Example:
  python tools/analysis_tools/training_curves.py work_dirs/a work_dirs/b --out curves.png \
      --loss-keys loss decode.loss_ce --val-keys mIoU IoU.road
"""
import argparse


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('runs', nargs='+', help='work dirs or scalars.json files')
    p.add_argument('--names', nargs='+', help='legend name per run (default: the run folder name)')
    p.add_argument('--loss-keys', nargs='+', default=['loss'], help='training keys to plot')
    p.add_argument('--val-keys', nargs='+', default=['mIoU'], help='validation keys to plot')
    p.add_argument('--out', required=True, help='output PNG')
    p.add_argument('--title', help='figure title')
    p.add_argument('--width', type=float, default=11.0, help='inches')
    p.add_argument('--height', type=float, default=4.0, help='inches')
    p.add_argument('--dpi', type=int, default=100, help='dots per inch (default 100)')
    args = p.parse_args(argv)
    if args.names and len(args.names) != len(args.runs):
        p.error('--names needs one name per run')
    return args


def main(argv=None):
    args = parse_args(argv)
    from vnseg.reports.plots import render_training_curves
    path = render_training_curves(args.runs, args.out, labels=args.names,
                                  loss_keys=args.loss_keys, val_keys=args.val_keys,
                                  title=args.title, figsize=(args.width, args.height),
                                  dpi=args.dpi)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
