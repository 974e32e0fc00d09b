"""Change between two flights: transitions (ha), change raster, change polygons, summary figure.

    python tools/compare_flights.py BEFORE_classes.tif AFTER_classes.tif --out-dir DIR
        [--stem change] [--category NAME=FROM>TO ...] [--lang en|vi] [--zones FILE --zone-field NAME]
        [--min-area 1] [--simplify 0.05] [--no-polygons] [--no-figure] [--strip-rows 1024]

BEFORE / AFTER are class maps written by tools/infer_large_image.py (STEM_classes.tif). AFTER may have
another grid, resolution or CRS: it is reprojected onto BEFORE's grid (nearest). Writes into DIR:
    STEM_transitions.csv   BEFORE class x AFTER class, hectares (pixels without ground units)
    STEM_change.tif (.qml) 0 unchanged, 1..K categories, K+1 other change, 255 no data (COG)
    STEM_changes.gpkg      one QGIS-styled polygon layer per category
    STEM_summary.png/.json change map + class gains and losses; the numbers
    STEM_zones.csv         per zone and class: before / after ha and %, change (with --zones)

Default categories: new_buildings=*>building trees_lost=tree>* water_gained=*>water water_lost=water>*
(FROM / TO: class names in English or Vietnamese, several joined by '|', or * for any other class).
"""
import sys
from pathlib import Path


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser
    p = ArgumentParser(description='Change between two flights from their class maps')
    p.add_argument('before', help='class map of the earlier flight (uint8 GeoTIFF)')
    p.add_argument('after', help='class map of the later flight (any grid / CRS)')
    p.add_argument('--out-dir', required=True, help='output folder')
    p.add_argument('--stem', default='change', help='output file prefix (default: change)')
    p.add_argument('--category', nargs='+', default=None, metavar='NAME=FROM>TO',
                   help='change categories (default: new buildings, trees lost, water gained / lost)')
    p.add_argument('--lang', choices=['en', 'vi'], default='en', help='class and category names')
    p.add_argument('--zones', default=None, help='polygon vector file (any CRS): per-zone class areas')
    p.add_argument('--zone-field', default=None, help='attribute naming each zone (with --zones)')
    p.add_argument('--min-area', type=float, default=None,
                   help='drop change polygons smaller than this, m^2 (px without CRS); default 1 m^2 / 4 px')
    p.add_argument('--simplify', type=float, default=None,
                   help='polygon simplification in m (px without CRS); default half a pixel')
    p.add_argument('--no-polygons', action='store_true', help='skip the GeoPackage')
    p.add_argument('--no-figure', action='store_true', help='skip the summary PNG')
    p.add_argument('--strip-rows', type=int, default=1024, help='rows processed at a time (memory)')
    return p.parse_args(argv)


def main(argv=None):
    from vnseg.commands.cli import EXIT_USER_ERROR
    args = parse_args(argv)
    from vnseg.commands.flags import options_from_args
    from vnseg.geo.change import ChangeOptions, compare_class_maps
    try:
        s = compare_class_maps(args.before, args.after, args.out_dir, options_from_args(ChangeOptions, args))
    except (ValueError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return EXIT_USER_ERROR
    unit = s['area_unit']
    print(f"{Path(args.before).name} -> {Path(args.after).name}: {s['compared_pixels']:,} pixels compared"
          f"{' (AFTER reprojected onto BEFORE grid)' if s['after_reprojected'] else ''}")
    for c in s['categories']:
        amount = f"{c['area_ha']:.4f} ha" if unit == 'ha' else f"{c['pixels']} px"
        print(f"  {c['label']:<16} {amount:>14}  ({c['rule']}, {c['polygons']} polygons)")
    for key, path in s['paths'].items():
        if path is not None:
            print(f'{key:<12}: {path}')
    return 0

