"""Comparison table of several runs as markdown: model, params, OEM-pretrained, distilled, mIoU,
per-class IoU — numbers read from each run's metrics_test.json (see vnseg/reports/comparison.py
for where each column comes from).

Example:
  python tools/analysis_tools/compare_runs.py work_dirs/segformer_b2 work_dirs/b2_oem \
      --names "SegFormer-B2" "SegFormer-B2 (OEM)" --out results.md --csv results.csv
"""


def parse_args(argv=None):
    from vnseg.commands.shared_args import parse_runs_args, runs_parser
    p = runs_parser(__doc__)
    p.add_argument('--no-params', action='store_true',
                   help='do not build models to count parameters (stored num_params still used)')
    p.add_argument('--sort', action='store_true', help='best mIoU first')
    p.add_argument('--extra-metrics', nargs='+', default=[], help='more summary keys, e.g. mAcc aAcc')
    p.add_argument('--out', help='also write the markdown here')
    p.add_argument('--csv', help='also write a CSV here')
    return parse_runs_args(p, argv)


def main(argv=None):
    args = parse_args(argv)
    from vnseg.reports import comparison
    rows = comparison.comparison_rows(args.runs, args.names, count_params=not args.no_params)
    table = comparison.comparison_table(rows, sort=args.sort, extra_metrics=args.extra_metrics)
    print(table, end='')
    if args.out:
        from vnseg.core.atomic import atomic_write_text
        atomic_write_text(args.out, table)
    if args.csv:
        comparison.comparison_csv(rows, args.csv)

