"""Class areas with 95 % confidence intervals, error matrix and accuracies from a reviewed sample.

    vnseg accuracy SAMPLE.gpkg --class-map CLASS_MAP.tif --out-dir DIR [--report [REPORT.html]]
        [--zones FILE --zone-field NAME] [--layer sample_points] [--lang en|vi]    (= tools/area_accuracy.py)

SAMPLE is the GeoPackage of ``vnseg sample`` with reference_class filled in by a reviewer (or a CSV with
the same columns, e.g. the chips' chips.csv); class names in English or Vietnamese, or class ids. Rows
without a reference class are left out and counted. A sample drawn on another map (CRS, grid, extent, or
map classes that differ at its points) is refused. A sample stratified by zone is estimated per zone too,
with the zone file it was drawn with (recorded in the GeoPackage, or --zones / --zone-field).

Writes into DIR:
    accuracy.json     n, overall accuracy, per class mapped and estimated area (ha) with standard error and
                      95 % interval half-width, user's and producer's accuracy with theirs; per zone; the
                      error matrix in counts and estimated area proportions (null: not estimable, see notes)
    accuracy.csv      one row per class (and per zone and class)
    error_matrix.csv  counts and estimated area proportions, rows = map class
    accuracy.md/.html the tables (and a chart) for people

With --report, the same chart and tables (and the sample's size and dates) also go into the mosaic's report:
STEM_report.html that vnseg map wrote beside STEM_classes.tif (or the report given), as a section of its own
that a later --report replaces; the rest of the report is kept.

The estimators (Olofsson et al. 2014; Stehman 2014; Cochran 1977) are in vnseg/geo/area_estimation.py.
"""
import sys


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser, positive_int
    p = ArgumentParser(description='Reviewed sample -> class areas with 95 % intervals, error matrix, accuracy')
    p.add_argument('sample', help='reviewed sample: the GeoPackage of vnseg sample, or a CSV with its columns')
    p.add_argument('--class-map', required=True, help='the class map the sample was drawn on (STEM_classes.tif)')
    p.add_argument('--out-dir', required=True, help='output folder')
    p.add_argument('--zones', default=None, help='zone file of a sample stratified by zone (default: as recorded)')
    p.add_argument('--zone-field', default=None, help='attribute naming each zone (default: as recorded)')
    p.add_argument('--layer', default=None, help='layer of the GeoPackage (default sample_points)')
    p.add_argument('--report', nargs='?', const='', default=None, metavar='REPORT.html',
                   help="add the chart and tables to the mosaic's report (default: STEM_report.html beside "
                        'STEM_classes.tif)')
    p.add_argument('--lang', choices=['en', 'vi'], default=None,
                   help="class names and headings of the tables (default English; the report's own language for "
                        '--report)')
    p.add_argument('--block-rows', type=positive_int, default=512, help='class map rows read at a time (memory)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from vnseg.commands.cli import check_output_dir
    from vnseg.geo.accuracy import AccuracyOptions, assess_accuracy
    check_output_dir(args.out_dir)
    report = None
    if args.report is not None:  # a report that cannot take the section is refused before anything is written
        from vnseg.geo.accuracy_report import check_mosaic_report, mosaic_report_of
        report = args.report or mosaic_report_of(args.class_map)
        check_mosaic_report(report, args.class_map)
    doc = assess_accuracy(args.sample, AccuracyOptions(
        class_map=args.class_map, out_dir=args.out_dir, zones=args.zones, zone_field=args.zone_field,
        layer=args.layer, lang=args.lang, block_rows=args.block_rows))
    if report is not None:
        from vnseg.geo.accuracy_report import add_to_mosaic_report
        report = add_to_mosaic_report(report, doc, args.class_map, args.lang)
    if doc['unlabelled']:
        print(f'{doc["unlabelled"]} of {doc["rows"]} points have no reference_class: left out '
              f'({doc["n"]} used)', file=sys.stderr)
    unit = doc['area_unit']

    def f(v, fmt):
        return 'n/e' if v is None else format(v, fmt)

    print(f'{doc["n"]} reviewed points; overall accuracy {f(doc["overall_accuracy"], ".3f")} '
          f'± {f(doc["overall_accuracy_ci95"], ".3f")} (95 %)')
    print(f'  {"class":<12} {"mapped " + unit:>14} {"estimated " + unit:>16} {"± 95 %":>12} {"user":>7} '
          f'{"± 95 %":>7} {"producer":>9} {"± 95 %":>7}')
    for name, e in doc['classes'].items():
        k = 'ha' if unit == 'ha' else 'px'
        print(f'  {name:<12} {f(e["mapped_area_" + k], ",.4f"):>14} {f(e["area_" + k], ",.4f"):>16} '
              f'{f(e["area_" + k + "_ci95"], ",.4f"):>12} {f(e["users_accuracy"], ".3f"):>7} '
              f'{f(e["users_accuracy_ci95"], ".3f"):>7} {f(e["producers_accuracy"], ".3f"):>9} '
              f'{f(e["producers_accuracy_ci95"], ".3f"):>7}')
    if doc['zones']:
        print(f'per zone: {len(doc["zones"])} zones (accuracy.csv, accuracy.md)')
    from vnseg.geo.accuracy_report import not_estimable_notes
    for note in not_estimable_notes(doc):
        print(f'not estimable: {note}')
    print(f'outputs: {args.out_dir}/accuracy.json, accuracy.csv, error_matrix.csv, accuracy.md, accuracy.html')
    if report is not None:
        print(f'report : {report} (section "class areas with 95 % confidence intervals")')
    return 0
