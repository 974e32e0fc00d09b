"""Segment whole orthomosaics (GeoTIFF / JPEG / PNG of any size) into GIS-ready outputs.

    vnseg map MODEL.onnx IMAGE [IMAGE ...] OUT_DIR              (= tools/infer_large_image.py)
    vnseg map CONFIG CHECKPOINT IMAGE [IMAGE ...] OUT_DIR
    vnseg map CONFIG IMAGE [IMAGE ...] --random-weights --out-dir DIR  (smoke tests)
        [--out-dir DIR instead of the last argument] [--onnx MODEL]
        [--tile 512] [--overlap 128] [--batch-size N] [--blend gaussian|mean] [--tta-flip]
        [--device cpu|cuda|cuda:1] [--classes building water ...] [--min-area 1] [--simplify 0.05]
        [--regularize-buildings]
        [--no-polygons] [--no-preview] [--preview-size 2048] [--resume] [--no-progress] [--cfg-options k=v ...]
        [--lang en|vi] [--zones FILE --zone-field NAME] [--no-indicators] [--no-gpkg] [--no-report] [--match-gsd]
        [--backend onnxruntime|openvino] [--int8-fallback] [--sample N]

An ONNX model (``vnseg export``) runs on ONNX Runtime: only vnseg's light core is needed
(``pip install .``: numpy, rasterio, shapely, pyogrio, tqdm, onnxruntime...; no torch, no OpenMMLab).
Several processes: tools/dist_infer.sh. ``--backend openvino`` runs the ONNX model on OpenVINO instead
(``pip install 'vnseg[openvino]'``). An int8 model (``vnseg export --int8``) is first checked on this CPU
(:mod:`vnseg.deploy.int8_check`): below its threshold the run stops (exit status 3), or maps with the
fp32 model beside it with ``--int8-fallback``.

Writes into DIR (STEM = image file name without suffix):
    STEM_classes.tif        class-index GeoTIFF (source CRS/transform, colour table, COG layout, 255 = nodata)
    STEM_confidence.tif     probability of the predicted class in % (uint8 0-100, 255 = nodata, same grid, COG)
    STEM_preview.png        colour overlay preview (downsampled)
    STEM.gpkg               polygons, one QGIS-styled layer per class (default: all but background): a gap-free
                            coverage (shared borders), each polygon's exact pixel area (area_m2) and drawn
                            area (geom_area_m2); with --zones a styled zone layer of the urban indicators
    STEM_<class>.geojson    the same polygons, RFC 7946 (WGS84 lon/lat), with a .qml style beside
    STEM_areas.csv / .json  pixels, m^2, ha, share of the valid area and mean confidence per class
    STEM_classes.qml        QGIS styles of the class map (colours, class names) and of the confidence map
    STEM_zones.csv          class areas (ha, %) per zone (with --zones)
    STEM_indicators.csv     urban indicators of the map and of each zone: building coverage ratio, tree cover,
                            impervious and water shares, road length and density, buildings and footprints
    STEM_report.html        one-page report: preview, legend, areas, charts, inputs and model
    STEM_sample.gpkg / .qgs with --sample N: points to review in QGIS (vnseg sample), for vnseg accuracy

``--match-gsd`` segments each image at the ground resolution the model was trained at (the
checkpoint's ``meta['gsd_cm']``, or the ONNX model's ``resolution``): the image is read resampled to
it, window by window, and the class map is mapped back onto the image's grid, where the areas are
measured. A model or an image without a known ground resolution is an error
(:mod:`vnseg.apis.gsd_match`).

Every finished strip of windows is kept in DIR/.STEM.parts until the rasters are written: after a
crash or a kill, the same command with ``--resume`` continues where it stopped and gives the same
result; outputs that a finished run already wrote are not rewritten.

The checkpoint must fit the config's model exactly; an untrained model runs only with
``--random-weights`` (and no CHECKPOINT). A user's mistake (missing or unusable file, wrong
checkpoint, bad option value, unwritable output folder, full disk) ends in one line
``error: <file>: <problem>`` and a non-zero exit status, without partial outputs; with several
images, a bad image is reported and the others go on.
"""
import argparse
import os
import sys
from pathlib import Path

#: Words a user may type for "no checkpoint"; refused with a pointer to --random-weights.
_NO_CHECKPOINT_WORDS = ('none', 'null', '-', 'random')


def _dict_action():
    """MMEngine's ``--cfg-options`` parser when MMEngine is installed (the ONNX path runs without it)."""
    try:
        from mmengine.config import DictAction
        return DictAction
    except ImportError:
        return None


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser, non_negative_float, non_negative_int, positive_int
    p = ArgumentParser(description='Whole-scene inference: class map and confidence GeoTIFFs, polygons, '
                                            'area table')
    p.add_argument('inputs', nargs='+', metavar='MODEL IMAGE',
                   help='MODEL.onnx IMAGE [IMAGE ...], or CONFIG CHECKPOINT IMAGE [IMAGE ...]; without '
                        '--out-dir the last one is the output folder (e.g. model.onnx mosaic.tif out/)')
    p.add_argument('--onnx', default=None, help='exported ONNX model: run on ONNX Runtime (no CONFIG/CHECKPOINT)')
    p.add_argument('--backend', choices=['onnxruntime', 'openvino'], default='onnxruntime',
                   help="runtime of an ONNX model: ONNX Runtime (default) or OpenVINO (pip install 'vnseg[openvino]')")
    p.add_argument('--int8-fallback', action='store_true',
                   help='when an int8 model fails its check on this CPU, map with the fp32 model beside it '
                        '(MODEL.onnx next to MODEL.int8.onnx) instead of stopping')
    p.add_argument('--random-weights', action='store_true',
                   help='run an UNTRAINED model built from CONFIG (smoke tests): CONFIG IMAGE [IMAGE ...]')
    p.add_argument('--out-dir', default=None, help='output folder (or the last positional argument)')
    # the window, polygon and output flags fill the fields of the same names (map_options): --min-area is
    # PolygonOptions.min_area, --no-preview is OutputOptions.preview=False
    p.add_argument('--tile', type=positive_int, default=None,
                   help="window side in pixels (default 512; an ONNX model's exported tile)")
    p.add_argument('--overlap', type=non_negative_int, default=None,
                   help='window overlap in pixels (default tile/4)')
    p.add_argument('--batch-size', type=positive_int, default=None,
                   help='windows per forward pass (default: 1 for PyTorch on a CPU, where batching gains '
                        'nothing, else 4)')
    p.add_argument('--blend', choices=['gaussian', 'mean'], default='gaussian',
                   help='merge overlapping logits with gaussian weights (default) or a plain mean')
    p.add_argument('--tta-flip', action='store_true', help='add horizontal-flip test-time augmentation')
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:N (default: cuda:0 if available)')
    p.add_argument('--classes', nargs='+', default=None,
                   help='classes to polygonise, names or ids (default: all but background)')
    p.add_argument('--min-area', type=non_negative_float, default=None,
                   help='specks smaller than this, m^2 (pixels without georeferencing), are merged into their '
                        'largest neighbour before polygonising (no gaps); default 1 m^2 / 16 px')
    p.add_argument('--simplify', type=non_negative_float, default=None,
                   help='simplification tolerance in m (pixels without georeferencing) of the class polygons, '
                        'which keep sharing their borders (a gap-free coverage); default half a pixel')
    p.add_argument('--regularize-buildings', action='store_true',
                   help='square the building outlines (straight walls, right angles), cut into the other '
                        'classes; a building that cannot be squared keeps its outline (regularized = 0)')
    p.add_argument('--no-polygons', action='store_true', help='skip the GeoJSON polygons')
    p.add_argument('--no-preview', action='store_true', help='skip the preview PNG')
    p.add_argument('--preview-size', type=positive_int, default=2048,
                   help='longer side of the preview in pixels')
    p.add_argument('--resume', action='store_true',
                   help='continue an interrupted run in OUT_DIR (same image, model and settings)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--quiet', dest='no_progress', action='store_true', help=argparse.SUPPRESS)  # former name
    action = _dict_action()
    p.add_argument('--cfg-options', nargs='+', action=action, help='override config settings',
                   **({} if action else {'default': None}))
    p.add_argument('--lang', choices=['en', 'vi'], default='en',
                   help='class names in layers, tables, styles and the report: English or Vietnamese')
    p.add_argument('--zones', default=None, help='polygon vector file (any CRS) of zones: per-zone class areas')
    p.add_argument('--zone-field', default=None, help='attribute naming each zone (with --zones)')
    p.add_argument('--sample', type=positive_int, default=None, metavar='N',
                   help='also draw a stratified random sample of N points on the class map to review in QGIS '
                        '(STEM_sample.gpkg + .qgs, as vnseg sample --n N; strata zone x class with --zones); '
                        'then vnseg accuracy')
    p.add_argument('--no-gpkg', action='store_true', help='skip the GeoPackage (GeoJSON only)')
    p.add_argument('--no-report', action='store_true', help='skip the HTML report')
    p.add_argument('--no-indicators', action='store_true',
                   help='skip the urban indicators (STEM_indicators.csv, the zone layer, their part of the report)')
    p.add_argument('--match-gsd', action='store_true',
                   help="resample each image to the model's training ground resolution (cm/px, from the "
                        'checkpoint or the ONNX metadata) for segmentation; outputs stay on the image grid')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                   help='job launcher (tools/dist_infer.sh passes pytorch)')
    p.add_argument('--local-rank', '--local_rank', type=int, default=0,
                   help='process rank on this node, passed by torch.distributed.launch (torchrun sets LOCAL_RANK)')
    args = p.parse_args(argv)
    _positional_model_and_out_dir(p, args)
    if args.zones and not args.zone_field:
        p.error('--zones needs --zone-field (the attribute naming each zone)')
    if not args.onnx and args.backend != 'onnxruntime':
        p.error(f'--backend {args.backend}: runs exported ONNX models; give MODEL.onnx')
    if args.onnx:
        args.config = args.checkpoint = None
        args.images = args.inputs
        if args.cfg_options:
            p.error('--cfg-options applies to a CONFIG, not to an ONNX model')
        if args.random_weights:
            p.error('--random-weights builds a model from a CONFIG; an ONNX model has its weights')
    elif args.random_weights:
        if len(args.inputs) < 2:
            p.error('expected CONFIG IMAGE [IMAGE ...] with --random-weights')
        given = [x for x in args.inputs[1:] if x.lower().endswith(('.pth', '.pt', '.ckpt'))]
        if given:
            p.error(f'--random-weights: a CHECKPOINT ({given[0]}) was given too; give one or the other')
        args.config, args.checkpoint, args.images = args.inputs[0], None, args.inputs[1:]
    else:
        if len(args.inputs) == 2:
            p.error(f'{args.inputs[0]}: no CHECKPOINT given: the model would predict with random '
                    'weights. Give the trained checkpoint (.pth), or --random-weights to run an '
                    'untrained model on purpose')
        if len(args.inputs) < 3:
            p.error('expected CONFIG CHECKPOINT IMAGE [IMAGE ...] (or --onnx MODEL IMAGE ...)')
        args.config, args.checkpoint, args.images = args.inputs[0], args.inputs[1], args.inputs[2:]
    return args


def _positional_model_and_out_dir(parser, args):
    """``MODEL.onnx IMAGE ... OUT_DIR``: a first ``.onnx`` input is the model, the last input the folder.

    Sets ``args.onnx`` and ``args.out_dir`` from the positional inputs when the options are not given;
    an existing file as the last input (an image, not a folder) is refused rather than overwritten.
    """
    if args.onnx is None and args.inputs[0].lower().endswith('.onnx'):
        args.onnx, args.inputs = args.inputs[0], args.inputs[1:]
    if args.out_dir is None:
        if len(args.inputs) < 2:
            parser.error('expected IMAGE [IMAGE ...] OUT_DIR (or --out-dir DIR)')
        if os.path.isfile(args.inputs[-1]):
            parser.error(f'{args.inputs[-1]}: is a file; the last input is the output folder '
                         '(or give --out-dir DIR)')
        args.out_dir, args.inputs = args.inputs[-1], args.inputs[:-1]
    if not args.inputs:
        parser.error('expected at least one IMAGE')


def check_args(args):
    """Refuse what cannot give a right result before any work (:class:`vnseg.core.errors.OptionError`)."""
    from vnseg.commands.cli import check_output_dir
    from vnseg.core.errors import OptionError
    if args.checkpoint is not None and args.checkpoint.lower() in _NO_CHECKPOINT_WORDS \
            and not Path(args.checkpoint).exists():
        raise OptionError(args.checkpoint, 'is not a checkpoint file; to run an untrained model on '
                                           'purpose, leave CHECKPOINT out and pass --random-weights')
    if args.overlap is not None and args.tile is not None and args.overlap >= args.tile:
        raise OptionError('--overlap', f'{args.overlap} px must be smaller than the tile '
                                       f'({args.tile} px)')
    check_output_dir(args.out_dir)


def _print_result(image, res):
    a = res.areas
    unit = a['area_unit']
    print(f"\n{Path(image).name}: {a['width']}x{a['height']} px, CRS {a['crs'] or 'none'}, "
          f"{res.tiles_run}/{res.tiles_total} tiles run, {res.seconds:.1f} s")
    m = a.get('match_gsd')
    if m:
        print(f"ground resolution: image {m['image_cm']:.2f} cm/px, model {m['model_cm']:.2f} cm/px: segmented on "
              f"{m['model_grid'][0]}x{m['model_grid'][1]} px, mapped back to the image grid (--match-gsd)")
    print(f"areas ({a['area_method']}): {a['note']}")
    head = f"{'id':>3} {'class':<12} {'pixels':>12}" + (f" {'m2':>14} {'ha':>10}" if unit == 'm2' else '') \
        + f" {'% valid':>8}" + (f" {'conf %':>7}" if 'mean_confidence_pct' in a['classes'][0] else '')
    print(head)
    for r in a['classes']:
        line = f"{r['class_id']:>3} {r['class']:<12} {r['pixels']:>12}"
        if unit == 'm2':
            line += f" {r['area_m2']:>14.2f} {r['area_ha']:>10.4f}"
        line += f" {r['share_valid_pct']:>8.2f}"
        if r.get('mean_confidence_pct') is not None:
            line += f" {r['mean_confidence_pct']:>7.1f}"
        print(line)
    print(f'class map : {res.class_map}')
    print(f'confidence: {res.confidence}')
    if res.preview:
        print(f'preview   : {res.preview}')
    for name, path in res.polygons.items():
        st = res.polygon_stats.get(name)
        unit_txt = 'm2' if unit == 'm2' else 'px'
        squared = f", {st['regularized']} squared (--regularize-buildings)" if st and st.get('regularized') else ''
        specks = (f"; {-st['dropped_area']:+.2f} {unit_txt} by merging specks below --min-area into neighbours"
                  if st and st.get('dropped_area') else '')
        print(f'polygons  : {path}' + (f" ({st['polygons']} polygons{squared}{specks})" if st
                                       else ' (kept from the finished run)'))
    v = res.validity
    if v is not None:
        worst = max(v['classes'], key=lambda r: abs(r['area_change_pct']), default=None)
        print(f"coverage  : {'valid' if v['coverage_valid'] else 'NOT valid'} ({v['strips_checked']} strips checked, "
              f"{v['invalid_repaired']} geometries repaired"
              + (f"; largest area change of simplification {worst['area_change_pct']:+.3f} % ({worst['class']})"
                 if worst else '') + ')')
    print(f'areas     : {res.areas_csv}, {res.areas_json}')
    for label, path in (('layers', res.gpkg), ('zones', res.zones_csv), ('indicators', res.indicators_csv),
                        ('report', res.report)):
        if path:
            print(f'{label:<10}: {path}')
    s = res.sample
    if s is not None:
        print(f'sample    : {s.gpkg} ({s.points} points to review'
              + (f'; QGIS project {s.project.name}' if s.project else '')
              + ('; kept from the finished run' if s.kept else '') + '), then vnseg accuracy '
              f'{s.gpkg} --class-map {res.class_map} --out-dir DIR --report')


#: Exit status when an int8 model gives wrong classes on this CPU (as ``vnseg export`` refusing one).
EXIT_INT8_CHECK = 3


def _onnx_model_for_this_cpu(args):
    """The scene model of ``--onnx`` on ``--backend``; an int8 model is first checked on this CPU with tiles of
    the images (:mod:`vnseg.deploy.int8_check`): its result is printed in one line; when the check fails, the
    fp32 model beside it with ``--int8-fallback`` (said on stderr), else :class:`Int8CheckError`."""
    from vnseg.apis.scene_model import build_scene_model
    from vnseg.deploy.int8_check import Int8CheckError, check_int8_for_images, fp32_sibling
    model = build_scene_model(args.onnx, None, args.device, backend=args.backend)
    try:
        facts = check_int8_for_images(model.tile_model, args.images)
    except Int8CheckError as err:
        fp32 = fp32_sibling(args.onnx)
        if not (args.int8_fallback and fp32):
            raise
        print(f'warning: {err}; mapping with the fp32 model {fp32} instead (--int8-fallback)', file=sys.stderr)
        return build_scene_model(str(fp32), None, args.device, backend=args.backend)
    if facts:
        print(f"int8 check on this CPU ({facts['cpu']['summary']}, {facts['backend']}): "
              f"{100 * facts['agreement']:.2f} % of {facts['pixels']} pixels of {facts['tiles']} tiles of "
              f"{facts['image']} agree with {facts['reference']} (>= {100 * facts['min_agreement']:.2f} %)")
    return model


def _int8_advice(args) -> str:
    """What a user can do about an int8 model that failed its check here."""
    from vnseg.deploy.int8_check import fp32_sibling
    fp32 = fp32_sibling(args.onnx)
    if fp32 is None:
        return ('no fp32 model beside it to fall back to: map with the fp32 model, or export the int8 model '
                'with 7-bit weights (vnseg export --int8, the default), which every x86 CPU runs exactly')
    return f'map with {fp32}, or add --int8-fallback to do so whenever the check fails'


def map_options(args, tile: int) -> tuple:
    """``(WindowOptions, PolygonOptions, OutputOptions)`` of the parsed flags, each field from the flag
    of its name (:func:`vnseg.commands.flags.options_from_args`); ``tile``: the window side decided
    from ``--tile`` and the model."""
    from vnseg.apis.gis_outputs import OutputOptions
    from vnseg.commands.flags import options_from_args
    from vnseg.geo.vectorize import PolygonOptions
    from vnseg.inference.sliding import WindowOptions
    return (options_from_args(WindowOptions, args, tile=tile), options_from_args(PolygonOptions, args),
            options_from_args(OutputOptions, args))


def _distributed(launcher):
    """This process among the job's (:class:`vnseg.apis.distributed.ProcessGroup`); initialises the
    process group for a launcher (MMEngine's init_dist, gloo without CUDA -- vnseg.openmmlab.compat)."""
    from vnseg.apis.distributed import ProcessGroup
    if launcher == 'none':
        return ProcessGroup()
    import torch
    import vnseg.mmseg_ext  # noqa: F401  (vnseg.openmmlab.compat: init_dist on CPU-only machines)
    from mmengine.dist import get_dist_info, init_dist
    init_dist(launcher, backend='nccl' if torch.cuda.is_available() else 'gloo')
    rank, world = get_dist_info()
    return ProcessGroup(rank, world, torch.distributed.barrier)


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    from vnseg.apis.distributed import infer_images
    from vnseg.apis.scene_model import build_scene_model
    from vnseg.apis.strip_store import ResumeMismatch
    from vnseg.commands.cli import EXIT_USER_ERROR, describe_user_error
    from vnseg.core.errors import ImageReadError
    onnx_model = None
    if args.onnx:  # built once: its exported tile is the default --tile
        from vnseg.deploy.int8_check import Int8CheckError
        try:
            onnx_model = _onnx_model_for_this_cpu(args)
        except Int8CheckError as err:
            print(f'error: {err}; {_int8_advice(args)}', file=sys.stderr)
            return EXIT_INT8_CHECK
        except (FileNotFoundError, ValueError) as err:
            print(f'error: {err}', file=sys.stderr)
            return EXIT_USER_ERROR
        tile = args.tile or onnx_model.tile_model.tile or 512
    else:
        tile = args.tile or 512
        if args.overlap is not None and args.overlap >= tile:
            from vnseg.core.errors import OptionError
            raise OptionError('--overlap', f'{args.overlap} px must be smaller than the tile ({tile} px)')
    windows, polygons, outputs = map_options(args, tile)
    group = _distributed(args.launcher)
    device = args.device
    if device is None and group.world > 1 and not args.onnx:
        import torch
        device = f"cuda:{os.environ.get('LOCAL_RANK', 0)}" if torch.cuda.is_available() else 'cpu'
    failed = []

    expected = (ImageReadError, FileNotFoundError, ValueError, ResumeMismatch)

    def report(image, err):
        """A bad image is reported and the batch goes on; anything else is a bug and propagates."""
        line = describe_user_error(err) or (str(err) if isinstance(err, expected) else None)
        if line is None:
            raise err
        failed.append(image)
        print(f'error: {line}', file=sys.stderr)

    try:  # an unusable model, zone file or option stops the run here, in one line
        model = onnx_model or build_scene_model(args.config, args.checkpoint, device, args.cfg_options, tile=tile,
                                                random_weights=args.random_weights)
        results = infer_images(model, args.images, args.out_dir, windows, polygons, outputs, group=group,
                               resume=args.resume, progress=not args.no_progress, on_error=report)
    except expected as err:
        print(f'error: {describe_user_error(err) or err}', file=sys.stderr)
        return EXIT_USER_ERROR
    for image, res in results:
        _print_result(image, res)
    if failed:
        if len(args.images) > 1:
            print(f'\n{len(failed)} of {len(args.images)} images failed: ' + ', '.join(map(str, failed)),
                  file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
