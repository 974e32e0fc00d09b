"""Segment a whole orthomosaic (GeoTIFF / JPEG / PNG of any size) into GIS-ready outputs.

    python tools/infer_large_image.py CONFIG CHECKPOINT IMAGE --out-dir DIR
    python tools/infer_large_image.py CONFIG IMAGE --random-weights --out-dir DIR   (smoke tests)
        [--tile 512] [--overlap 128] [--batch-size 4] [--blend gaussian|mean] [--tta-flip]
        [--device cpu|cuda|cuda:1] [--classes building water ...] [--min-area 1] [--simplify 0.05]
        [--no-polygons] [--no-preview] [--preview-size 2048] [--quiet] [--cfg-options k=v ...]

Writes into DIR (STEM = image file name without suffix):
    STEM_classes.tif        class-index GeoTIFF (source CRS/transform, colour table, COG layout, 255 = nodata)
    STEM_preview.png        colour overlay preview (downsampled)
    STEM_<class>.geojson    polygons per class (default: all classes but background)
    STEM_areas.csv / .json  pixels, m^2, ha and share of the valid area per class

The checkpoint must fit the config's model exactly; an untrained model runs only with
``--random-weights`` (and no CHECKPOINT). A user's mistake (missing or unusable file, wrong
checkpoint, bad option value, unwritable output folder, full disk) ends in one line
``error: <file>: <problem>`` and a non-zero exit status, without partial outputs.
"""
import sys
from pathlib import Path

#: Words a user may type for "no checkpoint"; refused with a pointer to --random-weights.
_NO_CHECKPOINT_WORDS = ('none', 'null', '-', 'random')


def parse_args(argv=None):
    from mmengine.config import DictAction

    from vnseg.cli import ArgumentParser, non_negative_float, non_negative_int, positive_int
    p = ArgumentParser(description='Whole-scene inference: class map GeoTIFF, polygons, area table')
    p.add_argument('config', help='model config (.py)')
    p.add_argument('checkpoint', nargs='?', default=None,
                   help='checkpoint (.pth) of that config; leave out only with --random-weights')
    p.add_argument('image', help='input GeoTIFF / JPEG / PNG (8-bit RGB, RGBA, grey)')
    p.add_argument('--random-weights', action='store_true',
                   help='run an UNTRAINED model built from the config (smoke tests; no CHECKPOINT)')
    p.add_argument('--out-dir', required=True, help='output folder')
    p.add_argument('--tile', type=positive_int, default=512, help='window side in pixels (default 512)')
    p.add_argument('--overlap', type=non_negative_int, default=None,
                   help='window overlap in pixels (default tile/4)')
    p.add_argument('--batch-size', type=positive_int, default=4,
                   help='windows per forward pass (default 4)')
    p.add_argument('--blend', choices=['gaussian', 'mean'], default='gaussian',
                   help='merge overlapping logits with gaussian weights (default) or a plain mean')
    p.add_argument('--tta-flip', action='store_true', help='add horizontal-flip test-time augmentation')
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:N (default: cuda:0 if available)')
    p.add_argument('--classes', nargs='+', default=None,
                   help='classes to polygonise, names or ids (default: all but background)')
    p.add_argument('--min-area', type=non_negative_float, default=None,
                   help='drop polygons smaller than this, m^2 (pixels without georeferencing); default 1 m^2 / 16 px')
    p.add_argument('--simplify', type=non_negative_float, default=None,
                   help='polygon simplification tolerance in m (pixels without georeferencing); default half a pixel')
    p.add_argument('--no-polygons', action='store_true', help='skip the GeoJSON polygons')
    p.add_argument('--no-preview', action='store_true', help='skip the preview PNG')
    p.add_argument('--preview-size', type=positive_int, default=2048,
                   help='longer side of the preview in pixels')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return p.parse_args(argv)


def check_args(args):
    """Refuse option combinations that cannot give a right result (:class:`vnseg.cli.OptionError`)."""
    from vnseg.cli import OptionError, check_output_dir
    if args.checkpoint is not None and args.random_weights:
        raise OptionError('--random-weights', f'a CHECKPOINT ({args.checkpoint}) was given too; '
                                              'give one or the other')
    if args.checkpoint is None and not args.random_weights:
        raise OptionError(args.config, 'no CHECKPOINT given: the model would predict with random '
                                       'weights. Give the trained checkpoint (.pth), or '
                                       '--random-weights to run an untrained model on purpose')
    if args.checkpoint is not None and args.checkpoint.lower() in _NO_CHECKPOINT_WORDS \
            and not Path(args.checkpoint).exists():
        raise OptionError(args.checkpoint, 'is not a checkpoint file; to run an untrained model on '
                                           'purpose, leave CHECKPOINT out and pass --random-weights')
    if args.overlap is not None and args.overlap >= args.tile:
        raise OptionError('--overlap', f'{args.overlap} px must be smaller than the tile '
                                       f'({args.tile} px)')
    check_output_dir(args.out_dir)


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    from vnseg.apis import infer_large_image
    res = infer_large_image(
        args.config, args.checkpoint, args.image, args.out_dir, tile=args.tile,
        overlap=args.overlap, batch_size=args.batch_size, blend=args.blend, tta_flip=args.tta_flip,
        device=args.device, polygon_classes=args.classes, min_polygon_area=args.min_area,
        simplify_tolerance=args.simplify, write_polygons=not args.no_polygons,
        preview=not args.no_preview, preview_max_size=args.preview_size, progress=not args.quiet,
        cfg_options=args.cfg_options, random_weights=args.random_weights)
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
    return 0


if __name__ == '__main__':
    from vnseg.cli import run_tool
    sys.exit(run_tool(main))
