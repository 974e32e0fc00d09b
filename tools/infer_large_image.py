"""Segment whole orthomosaics (GeoTIFF / JPEG / PNG of any size) into GIS-ready outputs.

    python tools/infer_large_image.py CONFIG CHECKPOINT IMAGE [IMAGE ...] --out-dir DIR
    python tools/infer_large_image.py --onnx model.onnx IMAGE [IMAGE ...] --out-dir DIR
        [--tile 512] [--overlap 128] [--batch-size 4] [--blend gaussian|mean] [--tta-flip]
        [--device cpu|cuda|cuda:1] [--classes building water ...] [--min-area 1] [--simplify 0.05]
        [--no-polygons] [--no-preview] [--preview-size 2048] [--resume] [--quiet] [--cfg-options k=v ...]
        [--lang en|vi] [--zones FILE --zone-field NAME] [--no-gpkg] [--no-report]

``--onnx`` runs an exported model (tools/deployment/export_onnx.py) on ONNX Runtime: only the light
install is needed (``pip install -r requirements/deploy.txt && pip install --no-deps .``: numpy,
rasterio, shapely, tqdm, onnxruntime; no torch, no OpenMMLab). Several processes: tools/dist_infer.sh.

Writes into DIR (STEM = image file name without suffix):
    STEM_classes.tif        class-index GeoTIFF (source CRS/transform, colour table, COG layout, 255 = nodata)
    STEM_confidence.tif     probability of the predicted class in % (uint8 0-100, 255 = nodata, same grid, COG)
    STEM_preview.png        colour overlay preview (downsampled)
    STEM.gpkg               polygons, one QGIS-styled layer per class (default: all but background)
    STEM_<class>.geojson    the same polygons, RFC 7946 (WGS84 lon/lat), with a .qml style beside
    STEM_areas.csv / .json  pixels, m^2, ha, share of the valid area and mean confidence per class
    STEM_classes.qml        QGIS styles of the class map (colours, class names) and of the confidence map
    STEM_zones.csv          class areas (ha, %) per zone (with --zones)
    STEM_report.html        one-page report: preview, legend, areas, charts, inputs and model

Every finished strip of windows is kept in DIR/.STEM.parts until the rasters are written: after a
crash or a kill, the same command with ``--resume`` continues where it stopped and gives the same
result; outputs that a finished run already wrote are not rewritten.

CHECKPOINT may be ``none`` to run with random weights (smoke tests only).
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's vnseg


def _dict_action():
    """MMEngine's ``--cfg-options`` parser when MMEngine is installed (the ONNX path runs without it)."""
    try:
        from mmengine.config import DictAction
        return DictAction
    except ImportError:
        return None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Whole-scene inference: class map and confidence GeoTIFFs, polygons, '
                                            'area table')
    p.add_argument('inputs', nargs='+', metavar='CONFIG CHECKPOINT IMAGE',
                   help='CONFIG CHECKPOINT IMAGE [IMAGE ...], or IMAGE [IMAGE ...] with --onnx')
    p.add_argument('--onnx', default=None, help='exported ONNX model: run on ONNX Runtime (no CONFIG/CHECKPOINT)')
    p.add_argument('--out-dir', required=True, help='output folder')
    p.add_argument('--tile', type=int, default=None,
                   help="window side in pixels (default 512; an ONNX model's exported tile)")
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
    p.add_argument('--resume', action='store_true',
                   help='continue an interrupted run in OUT_DIR (same image, model and settings)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    action = _dict_action()
    p.add_argument('--cfg-options', nargs='+', action=action, help='override config settings',
                   **({} if action else {'default': None}))
    p.add_argument('--lang', choices=['en', 'vi'], default='en',
                   help='class names in layers, tables, styles and the report: English or Vietnamese')
    p.add_argument('--zones', default=None, help='polygon vector file (any CRS) of zones: per-zone class areas')
    p.add_argument('--zone-field', default=None, help='attribute naming each zone (with --zones)')
    p.add_argument('--no-gpkg', action='store_true', help='skip the GeoPackage (GeoJSON only)')
    p.add_argument('--no-report', action='store_true', help='skip the HTML report')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                   help='job launcher (tools/dist_infer.sh passes pytorch)')
    p.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = p.parse_args(argv)
    if args.zones and not args.zone_field:
        p.error('--zones needs --zone-field (the attribute naming each zone)')
    if args.onnx:
        args.config = args.checkpoint = None
        args.images = args.inputs
        if args.cfg_options:
            p.error('--cfg-options applies to a CONFIG, not to an ONNX model')
    else:
        if len(args.inputs) < 3:
            p.error('expected CONFIG CHECKPOINT IMAGE [IMAGE ...] (or --onnx MODEL IMAGE ...)')
        args.config, args.checkpoint, args.images = args.inputs[0], args.inputs[1], args.inputs[2:]
    return args


def _print_result(image, res):
    a = res.areas
    unit = a['area_unit']
    print(f"\n{Path(image).name}: {a['width']}x{a['height']} px, CRS {a['crs'] or 'none'}, "
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
    print(f'confidence: {res.confidence}')
    if res.preview:
        print(f'preview   : {res.preview}')
    for name, path in res.polygons.items():
        st = res.polygon_stats.get(name)
        print(f'polygons  : {path}' + (f" ({st['polygons']} polygons, {st['dropped_small']} below min area)"
                                       if st else ' (kept from the finished run)'))
    print(f'areas     : {res.areas_csv}, {res.areas_json}')
    for label, path in (('layers', res.gpkg), ('zones', res.zones_csv), ('report', res.report)):
        if path:
            print(f'{label:<10}: {path}')


def _distributed(launcher):
    """``(rank, world, barrier)``; initialises the process group for a launcher (MMEngine's init_dist,
    gloo without CUDA -- vnseg.compat)."""
    if launcher == 'none':
        return 0, 1, None
    import torch
    import vnseg  # noqa: F401  (vnseg.compat: init_dist on CPU-only machines)
    from mmengine.dist import get_dist_info, init_dist
    init_dist(launcher, backend='nccl' if torch.cuda.is_available() else 'gloo')
    rank, world = get_dist_info()
    return rank, world, torch.distributed.barrier


def main(argv=None):
    args = parse_args(argv)
    from vnseg.apis.distributed import infer_images
    from vnseg.apis.strip_store import ResumeMismatch
    from vnseg.geo.raster_io import ImageReadError
    if args.onnx:
        model, ckpt = args.onnx, None
        tile = args.tile
        if tile is None:
            from vnseg.apis.tile_models import OnnxTileModel
            try:
                tile = OnnxTileModel(args.onnx).tile or 512
            except (FileNotFoundError, ValueError) as err:
                print(f'error: {err}', file=sys.stderr)
                return 2
    else:
        model = args.config
        ckpt = None if args.checkpoint.lower() in ('none', 'null', '-') else args.checkpoint
        tile = args.tile or 512
    rank, world, barrier = _distributed(args.launcher)
    device = args.device
    if device is None and world > 1 and not args.onnx:
        import torch
        device = f"cuda:{os.environ.get('LOCAL_RANK', 0)}" if torch.cuda.is_available() else 'cpu'
    failed = []

    expected = (ImageReadError, FileNotFoundError, ValueError, ResumeMismatch)

    def report(image, err):
        """A bad image is reported and the batch goes on; anything else is a bug and propagates."""
        if not isinstance(err, expected):
            raise err
        failed.append(image)
        print(f'error: {err}', file=sys.stderr)

    try:
        results = infer_images(
            model, ckpt, args.images, args.out_dir, rank=rank, world=world, barrier=barrier, resume=args.resume,
            on_error=report,
            tile=tile, overlap=args.overlap, batch_size=args.batch_size, blend=args.blend,
            tta_flip=args.tta_flip, device=device, polygon_classes=args.classes,
            min_polygon_area=args.min_area, simplify_tolerance=args.simplify,
            write_polygons=not args.no_polygons, preview=not args.no_preview,
            preview_max_size=args.preview_size, progress=not args.quiet, cfg_options=args.cfg_options,
            lang=args.lang, zones=args.zones, zone_field=args.zone_field, gpkg=not args.no_gpkg,
            report=not args.no_report)
    except expected as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    for image, res in results:
        _print_result(image, res)
    if failed:
        print(f'\n{len(failed)} of {len(args.images)} images failed: ' + ', '.join(map(str, failed)),
              file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
