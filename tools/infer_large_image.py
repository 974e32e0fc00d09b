"""Segment a whole orthomosaic (GeoTIFF / JPEG / PNG of any size) into GIS-ready outputs.

    python tools/infer_large_image.py CONFIG CHECKPOINT IMAGE --out-dir DIR
        [--tile 512] [--overlap 128] [--batch-size 4] [--blend gaussian|mean] [--tta-flip]
        [--device cpu|cuda|cuda:1] [--classes building water ...] [--min-area 1] [--simplify 0.05]
        [--no-polygons] [--no-preview] [--preview-size 2048] [--quiet] [--cfg-options k=v ...]
        [--lang en|vi] [--zones FILE --zone-field NAME] [--no-gpkg] [--no-report]

Writes into DIR (STEM = image file name without suffix):
    STEM_classes.tif        class-index GeoTIFF (source CRS/transform, colour table, COG layout, 255 = nodata)
    STEM_preview.png        colour overlay preview (downsampled)
    STEM.gpkg               polygons, one QGIS-styled layer per class (default: all but background)
    STEM_<class>.geojson    the same polygons, RFC 7946 (WGS84 lon/lat), with a .qml style beside
    STEM_areas.csv / .json  pixels, m^2, ha, share of the valid area and mean confidence per class
    STEM_classes.qml        QGIS style of the class map (colours and class names)
    STEM_zones.csv          class areas (ha, %) per zone (with --zones)
    STEM_report.html        one-page report: preview, legend, areas, charts, inputs and model

CHECKPOINT may be ``none`` to run with random weights (smoke tests only).
"""
import argparse
import sys
from pathlib import Path


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description='Whole-scene inference: class map GeoTIFF, polygons, area table')
    p.add_argument('config', help='model config (.py)')
    p.add_argument('checkpoint', help="checkpoint (.pth), or 'none' for random weights")
    p.add_argument('image', help='input GeoTIFF / JPEG / PNG (8-bit RGB, RGBA, grey)')
    p.add_argument('--out-dir', required=True, help='output folder')
    p.add_argument('--tile', type=int, default=512, help='window side in pixels (default 512)')
    p.add_argument('--overlap', type=int, default=None, help='window overlap in pixels (default tile/4)')
    p.add_argument('--batch-size', type=int, default=4, help='windows per forward pass (default 4)')
    p.add_argument('--blend', choices=['gaussian', 'mean'], default='gaussian',
                   help='merge overlapping logits with gaussian weights (default) or a plain mean')
    p.add_argument('--tta-flip', action='store_true', help='add horizontal-flip test-time augmentation')
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:N (default: cuda:0 if available)')
    p.add_argument('--classes', nargs='+', default=None,
                   help='classes to polygonise, names or ids (default: all but background)')
    p.add_argument('--min-area', type=float, default=None,
                   help='drop polygons smaller than this, m^2 (pixels without georeferencing); default 1 m^2 / 16 px')
    p.add_argument('--simplify', type=float, default=None,
                   help='polygon simplification tolerance in m (pixels without georeferencing); default half a pixel')
    p.add_argument('--no-polygons', action='store_true', help='skip the GeoJSON polygons')
    p.add_argument('--no-preview', action='store_true', help='skip the preview PNG')
    p.add_argument('--preview-size', type=int, default=2048, help='longer side of the preview in pixels')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    p.add_argument('--lang', choices=['en', 'vi'], default='en',
                   help='class names in layers, tables, styles and the report: English or Vietnamese')
    p.add_argument('--zones', default=None, help='polygon vector file (any CRS) of zones: per-zone class areas')
    p.add_argument('--zone-field', default=None, help='attribute naming each zone (with --zones)')
    p.add_argument('--no-gpkg', action='store_true', help='skip the GeoPackage (GeoJSON only)')
    p.add_argument('--no-report', action='store_true', help='skip the HTML report')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from vnseg.apis import infer_large_image
    from vnseg.geo.raster_io import ImageReadError
    ckpt = None if args.checkpoint.lower() in ('none', 'null', '-') else args.checkpoint
    try:
        res = infer_large_image(
            args.config, ckpt, args.image, args.out_dir, tile=args.tile, overlap=args.overlap,
            batch_size=args.batch_size, blend=args.blend, tta_flip=args.tta_flip, device=args.device,
            polygon_classes=args.classes, min_polygon_area=args.min_area,
            simplify_tolerance=args.simplify, write_polygons=not args.no_polygons,
            preview=not args.no_preview, preview_max_size=args.preview_size,
            progress=not args.quiet, cfg_options=args.cfg_options, lang=args.lang, zones=args.zones,
            zone_field=args.zone_field, gpkg=not args.no_gpkg, report=not args.no_report)
    except (ImageReadError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    a = res.areas
    unit = a['area_unit']
    print(f"\n{Path(args.image).name}: {a['width']}x{a['height']} px, CRS {a['crs'] or 'none'}, "
          f"{res.tiles_run}/{res.tiles_total} tiles run, {res.seconds:.1f} s")
    print(f"areas ({a['area_method']}): {a['note']}")
    head = f"{'id':>3} {'class':<12} {'pixels':>12}" + (f" {'m2':>14} {'ha':>10}" if unit == 'm2' else '') \
        + f" {'% valid':>8}"
    print(head)
    for r in a['classes']:
        line = f"{r['class_id']:>3} {r['class']:<12} {r['pixels']:>12}"
        if unit == 'm2':
            line += f" {r['area_m2']:>14.2f} {r['area_ha']:>10.4f}"
        print(line + f" {r['share_valid_pct']:>8.2f}")
    print(f'class map : {res.class_map}')
    if res.preview:
        print(f'preview   : {res.preview}')
    for name, path in res.polygons.items():
        st = res.polygon_stats[name]
        print(f"polygons  : {path} ({st['polygons']} polygons, {st['dropped_small']} below min area)")
    print(f'areas     : {res.areas_csv}, {res.areas_json}')
    if res.gpkg:
        print(f'layers    : {res.gpkg}')
    if res.zones_csv:
        print(f'zones     : {res.zones_csv}')
    if res.report:
        print(f'report    : {res.report}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
