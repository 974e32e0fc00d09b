"""Export a trained segmentor to ONNX for ONNX Runtime and the QGIS Deepness plugin.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx [--tile 512]
        [--resolution-cm N] [--threshold P] [--overlap-pct 25] [--parity-image IMG ...]
        [--min-agreement 0.995] [--cfg-options k=v ...]

Writes ``model.onnx`` (input ``image`` float32 (N, 3, T, T) RGB in [0, 1]; output ``probabilities``
(N, C, T, T); normalisation inside; dynamic batch) with Deepness' metadata and vnseg's, and
``model.model_card.md`` / ``.json`` beside it. At export the graph is run by ONNX Runtime on real
tiles (``--parity-image``, default: the config's test images) and compared with PyTorch: the share of
pixels whose class agrees and the largest score difference are printed, and the export fails (nothing
is written) when the agreement is below ``--min-agreement``.

Deepness' ``resolution`` (cm/px) is the ground resolution the model was trained at: by default the
checkpoint's ``meta['gsd_cm']`` (recorded at training from the prepared data's ``summary.json``,
:mod:`vnseg.data.gsd`); ``--resolution-cm`` overrides it. ``seg_thresh`` is 0 (no threshold: Deepness
takes the plain argmax, as vnseg does) unless ``--threshold P`` asks for one
(:func:`vnseg.deploy.onnx_export.deepness_metadata`).

With ``--int8 --calib-images IMG [IMG ...]`` it also writes ``model.int8.onnx`` beside ``model.onnx``: the
same graph statically quantised by ONNX Runtime (QDQ, uint8 activations, int8 per-channel weights; the
convolutions and the decode head in int8, normalisation, attention scores and the output in float32;
7-bit weights by default, which every x86 CPU runs exactly (``--int8-weight-bits 8``: CPUs with VNNI only);
:mod:`vnseg.deploy.quantize`), calibrated on ``--calib-tiles`` tiles of the given images, with the same
metadata (plus ``vnseg.int8``: settings and agreement). Its predicted classes are compared with the fp32
graph's on the parity tiles; below ``--min-int8-agreement`` (default 0.98) the export fails with exit
status 3 and writes nothing (neither file).

Run the exported model on whole scenes without torch: ``tools/infer_large_image.py --onnx model.onnx IMAGE``.
"""
import argparse
import sys
from pathlib import Path


IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff')


def parse_args(argv=None):
    from mmengine.config import DictAction
    from vnseg.commands.cli import ArgumentParser
    p = ArgumentParser(description='Export a segmentor to ONNX (Deepness metadata, parity check)')
    p.add_argument('config', help='model config (.py)')
    p.add_argument('checkpoint', help='trained weights (.pth)')
    p.add_argument('--out', required=True, help='output .onnx file')
    p.add_argument('--tile', type=int, default=512, help='tile side in pixels (default 512)')
    p.add_argument('--overlap-pct', type=int, default=25,
                   help="tile overlap suggested to Deepness, percent of the tile (default 25, = vnseg's tile/4)")
    p.add_argument('--resolution-cm', type=float, default=None,
                   help='ground resolution the model was trained at, cm per pixel (Deepness rescales the map to '
                        "it); default: the checkpoint's training GSD (meta gsd_cm), when recorded")
    p.add_argument('--threshold', type=_probability, default=None, metavar='P',
                   help='Deepness seg_thresh: class probabilities below P become 0 before the argmax '
                        '(default: none for a softmax model, 0.5 for a one-channel sigmoid model)')
    p.add_argument('--parity-image', nargs='+', default=None,
                   help="images whose tiles check the export (default: the config's test images)")
    p.add_argument('--parity-tiles', type=int, default=8, help='tiles compared at export (default 8)')
    p.add_argument('--min-agreement', type=float, default=0.995,
                   help='minimum share of pixels whose class agrees with PyTorch (default 0.995)')
    p.add_argument('--opset', type=int, default=18, help='ONNX opset (default 18)')
    p.add_argument('--int8', action='store_true',
                   help='also write OUT with .int8.onnx (model.onnx -> model.int8.onnx): ONNX Runtime static int8 '
                        'quantisation calibrated on --calib-images, checked against the fp32 model')
    p.add_argument('--calib-images', nargs='+', default=None, metavar='IMG',
                   help='real images (GeoTIFF/PNG/JPEG) whose tiles calibrate the int8 activation ranges (with --int8)')
    p.add_argument('--calib-tiles', type=int, default=16,
                   help='calibration tiles, spread evenly over the --calib-images (default 16)')
    p.add_argument('--min-int8-agreement', type=float, default=0.98,
                   help='minimum share of parity-tile pixels whose class the int8 model gives as the fp32 one '
                        '(0..1, default 0.98); below it nothing is written, exit status 3')
    p.add_argument('--int8-weight-bits', type=int, choices=(7, 8), default=7,
                   help='bits of the int8 weights: 7 (default) gives the same class maps on every x86 CPU; 8 is a '
                        'little more exact but right only on CPUs with VNNI (x86 CPUs without it saturate), and '
                        'vnseg map checks such a file where it runs')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return p.parse_args(argv)


def _probability(text):
    """argparse type: a probability threshold in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f'must be in [0, 1), got {text}')
    return value


def resolve_resolution_cm(option_cm, checkpoint) -> tuple:
    """``(cm/px or None, where it came from)``: ``--resolution-cm`` when given, else the checkpoint's
    recorded training GSD (``meta['gsd_cm']``), else unknown."""
    from vnseg.data.gsd import GSD_META_KEY, valid_gsd_cm
    from vnseg.deploy.model_card import checkpoint_meta
    if option_cm is not None:
        return float(option_cm), '--resolution-cm'
    gsd = valid_gsd_cm(checkpoint_meta(checkpoint).get(GSD_META_KEY))
    return (gsd, f"checkpoint meta['{GSD_META_KEY}']") if gsd is not None else (None, None)


def _test_images(cfg, limit=4):
    """A few images of the config's test (else val) split."""
    for key in ('test_dataloader', 'val_dataloader'):
        ds = (cfg.get(key) or {}).get('dataset') or {}
        root, prefix = ds.get('data_root'), (ds.get('data_prefix') or {}).get('img_path')
        if root is None or prefix is None:
            continue
        folder = Path(root) / prefix
        if folder.is_dir():
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if found:
                return found[:limit]
    return []


def _int8_option_problem(args):
    """``'<option>: <problem>'`` when the int8 options cannot work, else None."""
    if not args.calib_images:
        return '--int8: give real images for the calibration with --calib-images IMG [IMG ...]'
    if not 0 <= args.min_int8_agreement <= 1:
        return f'--min-int8-agreement {args.min_int8_agreement}: use a share between 0 and 1 (e.g. 0.98)'
    if args.calib_tiles < 1:
        return f'--calib-tiles {args.calib_tiles}: use at least 1'
    for path in args.calib_images:
        if not Path(path).is_file():
            return f'{path}: calibration image not found'
    return None


def main(argv=None):
    args = parse_args(argv)
    from vnseg.apis.model_loading import inference_config, load_model
    from vnseg.commands.cli import EXIT_USER_ERROR
    from vnseg.core.atomic import atomic_output
    from vnseg.core.classes import CLASSES, CLASSES_VI
    from vnseg.core.errors import ImageReadError
    from vnseg.core.version import __version__
    from vnseg.deploy.model_card import build_model_card, load_test_metrics, write_model_card
    from vnseg.deploy.onnx_export import check_parity, deepness_metadata, embed_metadata, export_onnx, parity_tiles
    out = Path(args.out)
    if out.suffix.lower() != '.onnx':
        print(f'error: {out}: the output must end in .onnx', file=sys.stderr)
        return 2
    if args.resolution_cm is not None and not args.resolution_cm > 0:
        print(f'error: --resolution-cm: must be > 0 cm per pixel, got {args.resolution_cm}', file=sys.stderr)
        return 2
    if args.tile < 32 or args.tile % 32:
        print(f'error: --tile {args.tile}: use a multiple of 32 (the backbones downsample by 32)', file=sys.stderr)
        return 2
    if args.int8:
        from vnseg.deploy.quantize import int8_path_for
        int8_out = int8_path_for(out)
        problem = _int8_option_problem(args)
        if problem:
            print(f'error: {problem}', file=sys.stderr)
            return 2
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not Path(path).is_file():
            print(f'error: {path}: {what} not found', file=sys.stderr)
            return EXIT_USER_ERROR
    cfg = inference_config(args.config, args.cfg_options)
    images = [Path(p) for p in args.parity_image] if args.parity_image else _test_images(cfg)
    if not images:
        print(f"error: {args.config}: the config's test images were not found; give real tiles for the "
              'parity check with --parity-image IMAGE', file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        rgb, valid = parity_tiles(images, args.tile, args.parity_tiles)
    except (ImageReadError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return EXIT_USER_ERROR
    if args.int8:
        from vnseg.deploy.quantize import Int8AgreementError, QuantizeOptions, calibration_tiles, quantize_checked
        try:
            calib_rgb, calib_valid = calibration_tiles(args.calib_images, args.tile, args.calib_tiles)
        except (ImageReadError, ValueError) as err:
            print(f'error: {err}', file=sys.stderr)
            return EXIT_USER_ERROR
    model = load_model(cfg, args.checkpoint, device='cpu')
    meta = getattr(model, 'dataset_meta', None) or {}
    classes = list(meta.get('classes') or CLASSES)
    palette = [list(map(int, c)) for c in (meta.get('palette') or [])] or None
    metrics = load_test_metrics(args.checkpoint)
    resolution_cm, resolution_from = resolve_resolution_cm(args.resolution_cm, args.checkpoint)
    head = getattr(model, 'decode_head', None)
    binary = int(getattr(model, 'out_channels', 0) or getattr(head, 'num_classes', 0)) == 1
    min_agreement = args.min_agreement
    with atomic_output(out) as tmp:
        facts = export_onnx(model, tmp, tile=args.tile, opset=args.opset)
        parity = check_parity(model, tmp, rgb, valid)
        print(f"parity on {parity['tiles']} real {args.tile}px tiles ({parity['pixels']} px) from "
              f"{', '.join(p.name for p in images[:3])}: class agreement {100 * parity['agreement']:.3f} %, "
              f"max |d log p| {parity['max_abs_logprob_diff']:.2e} (p >= 1e-4), "
              f"max |d p| {parity['max_abs_prob_diff']:.2e}  [{facts['exporter']} exporter, opset {facts['opset']}]")
        if parity['agreement'] < min_agreement:
            print(f"error: {out}: ONNX Runtime agrees with PyTorch on only {100 * parity['agreement']:.2f} % of "
                  f'pixels (< {100 * min_agreement:.2f} %); nothing written', file=sys.stderr)
            raise SystemExit(3)
        vn = dict(format=1, vnseg_version=__version__, classes=classes,
                  classes_vi=[CLASSES_VI[CLASSES.index(c)] if c in CLASSES else None for c in classes],
                  palette=palette, fill_rgb01=facts['fill_rgb01'],
                  input='image: float32 (N, 3, H, W) RGB in [0, 1]; normalisation inside the graph',
                  output='probabilities: float32 (N, C, H, W), softmax over C',
                  config=str(args.config), checkpoint=Path(args.checkpoint).name,
                  ground_resolution_cm=resolution_cm, ground_resolution_from=resolution_from,
                  test_metrics=metrics and
                  {k: v for k, v in metrics.items() if k in ('aAcc', 'mIoU', 'mAcc') or k.startswith('IoU.')},
                  parity=parity, exporter=facts['exporter'], opset=facts['opset'])
        metadata = deepness_metadata(classes, args.tile, args.overlap_pct, resolution_cm,
                                     seg_thresh=args.threshold, binary=binary)
        metadata['vnseg'] = vn
        embed_metadata(tmp, metadata, doc_string=f'vnseg segmentation model from {Path(args.config).name}')
        if args.int8:
            with atomic_output(int8_out) as tmp8:
                try:
                    int8 = quantize_checked(tmp, tmp8, calib_rgb, calib_valid, rgb, valid, args.min_int8_agreement,
                                            name=int8_out,
                                            options=QuantizeOptions(weight_bits=args.int8_weight_bits))
                except Int8AgreementError as err:
                    print(f'error: {err}', file=sys.stderr)
                    raise SystemExit(3)
                int8.update(calibration_images=[Path(p).name for p in args.calib_images])
                embed_metadata(tmp8, dict(metadata, vnseg=dict(vn, int8=int8)),
                               doc_string=f'vnseg segmentation model from {Path(args.config).name}, int8')
                a, k = int8['agreement'], int8['kernel_agreement']
                print(f"int8: class agreement with fp32 {100 * a['agreement']:.3f} % on {a['tiles']} parity tiles "
                      f"({a['pixels']} px), max |d p| {a['max_abs_prob_diff']:.2e}; calibrated on "
                      f"{int8['calibration_tiles']} tiles of {len(args.calib_images)} image(s); {int8['format']}, "
                      f"{'/'.join(int8['op_types'])} in int8, {int8['weight_bits']}-bit weights "
                      f"({'portable: every x86 CPU' if int8['portable'] else 'CPUs with VNNI only'}); this CPU's "
                      f"integer kernels agree with the file's float arithmetic on {100 * k['agreement']:.3f} % "
                      f"({k['cpu']['summary']})")
    card = build_model_card(cfg, args.checkpoint, model=model, metrics=metrics, resolution_cm=resolution_cm,
                            config_path=args.config,
                            extra=dict(export=dict(onnx=out.name, tile=args.tile, opset=facts['opset'],
                                                   exporter=facts['exporter'], parity=parity,
                                                   int8=int8_out.name if args.int8 else None)))
    md, js = write_model_card(card, out.with_suffix(''))
    print(f'ONNX model: {out} ({out.stat().st_size / 2 ** 20:.1f} MiB)')
    if args.int8:
        print(f'int8 ONNX model: {int8_out} ({int8_out.stat().st_size / 2 ** 20:.1f} MiB)')
    print(f'model card: {md}, {js}')
    thresh = metadata['seg_thresh']
    print('Deepness: resolution ' + (f'{resolution_cm:g} cm/px (from {resolution_from})' if resolution_cm else
                                     'unknown') + f', seg_thresh {thresh:g}' + (' (none)' if thresh == 0 else ''))
    if resolution_cm is None:
        print('note: the checkpoint records no training GSD and no --resolution-cm was given: Deepness will '
              'not know the ground resolution the model was trained at (it assumes 3 cm/px)', file=sys.stderr)
    return 0

