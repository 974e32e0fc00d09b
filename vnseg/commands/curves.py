"""Training loss and validation mIoU curves from runs' logs
(<work_dir>/<timestamp>/vis_data/scalars.json, all timestamps of a resumed run merged).

Example:
  python tools/analysis_tools/training_curves.py work_dirs/a work_dirs/b --out curves.png \
      --loss-keys loss decode.loss_ce --val-keys mIoU IoU.road
"""


def parse_args(argv=None):
    from vnseg.commands.shared_args import add_figure_args, parse_runs_args, runs_parser
    p = runs_parser(__doc__, what='work dirs or scalars.json files')
    p.add_argument('--loss-keys', nargs='+', default=['loss'], help='training keys to plot')
    p.add_argument('--val-keys', nargs='+', default=['mIoU'], help='validation keys to plot')
    add_figure_args(p, width=11.0, height=4.0)
    return parse_runs_args(p, argv)


def main(argv=None):
    args = parse_args(argv)
    from vnseg.commands.shared_args import figure_options
    from vnseg.reports.plots import render_training_curves
    path = render_training_curves(args.runs, args.out, labels=args.names, loss_keys=args.loss_keys,
                                  val_keys=args.val_keys, **figure_options(args))
    print(f'wrote {path}')

