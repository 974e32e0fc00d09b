"""A stratified random sample of points on a class map, ready for review in QGIS.

    vnseg sample CLASS_MAP.tif OUT.gpkg (--n N | --target-se SE) [--min-per-stratum 50]
        [--expected-accuracy 0.8 building=0.6 ...] [--seed 0] [--zones FILE --zone-field NAME]
        [--lang en|vi] [--image MOSAIC] [--chips DIR] [--chip-size 96] [--no-project]
                                                                            (= tools/sample_points.py)

CLASS_MAP is STEM_classes.tif of ``vnseg map``. Strata are the map classes, or every zone x class with
--zones (each zone gets its own estimate). Each stratum gets --min-per-stratum points (all its pixels when
it has fewer), the rest of --n goes to the strata in proportion to their area. --target-se picks the
smallest --n that gives the overall accuracy that standard error, given the user's accuracy you expect
per class (--expected-accuracy; see vnseg/geo/sampling.py for the formula). The same map, options and
--seed give the same points. Nodata pixels and pixels outside the zones are never drawn.

Writes:
    OUT.gpkg        point layer sample_points in the map's CRS: sample_id, stratum, map_class,
                    reference_class (empty: the reviewer picks it from a drop-down), x, y, row, col
                    (and zone); QGIS applies its form and style (rings in the map class's colour) itself
    OUT.qgs         QGIS project: the points over the mosaic (--image, or the file the class map's
                    SOURCE_IMAGE tag names beside it) and the class map
    DIR/sample_NNNNN.png, DIR/chips.csv   with --chips: the mosaic around each point, and the points to
                    fill in without QGIS (vnseg accuracy reads the CSV too)

Then label the points and run ``vnseg accuracy OUT.gpkg --class-map CLASS_MAP.tif --out-dir DIR``.
"""


def _expected_accuracy(tokens):
    """``0.8`` (every class) and ``NAME=U`` tokens -> ``{'*': 0.8, NAME: U}``."""
    from vnseg.core.errors import OptionError
    out = {}
    for tok in tokens or ():
        name, _, value = tok.rpartition('=')
        try:
            u = float(value)
        except ValueError:
            raise OptionError('--expected-accuracy', f'{tok!r}: expected U or NAME=U with U from 0 to 1') from None
        if not 0 <= u <= 1:
            raise OptionError('--expected-accuracy', f'{tok!r}: a user\'s accuracy is from 0 to 1')
        out[name.strip() or '*'] = u
    return out


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser, non_negative_int, positive_int
    p = ArgumentParser(description='Stratified random sample of a class map -> GeoPackage review form for QGIS')
    p.add_argument('class_map', help='class map of vnseg map (STEM_classes.tif)')
    p.add_argument('out', help='the GeoPackage to write (OUT.gpkg; OUT.qgs is written beside it)')
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument('--n', type=positive_int, default=None, help='sample size: points in total')
    size.add_argument('--target-se', type=float, default=None,
                      help='sample size from the standard error wanted for the overall accuracy (e.g. 0.02)')
    p.add_argument('--min-per-stratum', type=non_negative_int, default=50,
                   help='points each stratum gets first, or all its pixels when fewer (default 50)')
    p.add_argument('--expected-accuracy', nargs='+', default=None, metavar='U|NAME=U',
                   help="user's accuracy expected per class, for --target-se (default 0.8 for every class)")
    p.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    p.add_argument('--zones', default=None, help='polygon vector file (any CRS): strata zone x class')
    p.add_argument('--zone-field', default=None, help='attribute naming each zone (with --zones)')
    p.add_argument('--lang', choices=['en', 'vi'], default='en',
                   help='labels of the review form (values stay English class names)')
    p.add_argument('--image', default=None,
                   help="the mosaic under the points (default: the class map's SOURCE_IMAGE beside it)")
    p.add_argument('--chips', default=None, metavar='DIR', help='also write an image chip per point and chips.csv')
    p.add_argument('--chip-size', type=positive_int, default=96, help='chip side in mosaic pixels (default 96)')
    p.add_argument('--no-project', action='store_true', help='skip the QGIS project file')
    p.add_argument('--block-rows', type=positive_int, default=512, help='class map rows read at a time (memory)')
    args = p.parse_args(argv)
    if args.zones and not args.zone_field:
        p.error('--zones needs --zone-field (the attribute naming each zone)')
    if not args.out.lower().endswith('.gpkg'):
        p.error(f'out: {args.out} must be a GeoPackage (.gpkg)')
    return args


def main(argv=None):
    args = parse_args(argv)
    from vnseg.geo.sampling import SampleOptions, draw_sample
    options = SampleOptions(n=args.n, min_per_stratum=args.min_per_stratum, target_se=args.target_se,
                            expected_accuracy=_expected_accuracy(args.expected_accuracy), seed=args.seed,
                            zones=args.zones, zone_field=args.zone_field, lang=args.lang, image=args.image,
                            chips=args.chips, chip_size=args.chip_size, project=not args.no_project,
                            block_rows=args.block_rows)
    res = draw_sample(args.class_map, args.out, options)
    t = res.table
    unit = 'ha' if t.unit == 'm2' else 'px'
    scale = 1e-4 if t.unit == 'm2' else 1.0
    if res.n0 is not None:
        print(f'--target-se {args.target_se}: n = {int(res.alloc.sum())} (expected SE of the overall accuracy '
              f'{res.expected_se:.4f}; Cochran\'s bound for Neyman allocation n0 = {res.n0})')
    print(f'{len(res.points)} points in {int((res.alloc > 0).sum())} strata (seed {args.seed}):')
    width = max([len(t.label(h)) for h in range(len(t.pixels)) if t.pixels[h]] + [7])
    print(f'  {"stratum":<{width}} {"area (" + unit + ")":>14} {"points":>7}')
    for h in range(len(t.pixels)):
        if t.pixels[h]:
            print(f'  {t.label(h):<{width}} {t.area[h] * scale:>14,.4f} {int(res.alloc[h]):>7}')
    for note in res.notes:
        print(f'note: {note}')
    print(f'review form : {res.gpkg}')
    if res.project:
        print(f'QGIS project: {res.project}' + (f' (over {res.image})' if res.image else ''))
    if res.chips_csv:
        print(f'chips       : {res.chips_csv.parent} ({res.chips_csv.name})')
    return 0
