"""int8 vs fp32 ONNX vs PyTorch on labelled test scenes: does quantisation cost mIoU?

    python benchmarks/int8_quality.py CONFIG CHECKPOINT --test-scenes DIR --calib-images IMG [IMG ...]
        [--work-dir DIR] [--calib-tiles 16] [--threads 2] [--int8-8bit] [--openvino]

``vnseg export --int8`` writes the fp32 and the int8 ONNX of the trained model (ONNX Runtime static
quantisation calibrated on ``--calib-tiles`` tiles of ``--calib-images``: give images of the TRAIN
scenes, never the test scenes). Then every whole scene of ``--test-scenes`` (a prepared dataset's
``scenes/`` folder: ``img/*.png`` + ``ann/*.png``, e.g. ``work_dirs/rq/data/test/scenes`` written by
``benchmarks/recipe_quality.py``) is segmented by ``infer_large_image`` with each model (PyTorch,
fp32 ONNX, int8 ONNX; tile 512, overlap 128, mean of the three as in ``recipe_quality``) and scored
against its mask. Prints per backend the mIoU and per-class IoU, seconds, the class agreement with
PyTorch, and as its last line ``RESULT_INT8 int8_mIoU=<x> fp32_mIoU=<y> delta=<x-y>`` (ONNX fp32).

The int8 file is the portable one (7-bit weights, the export's default). ``--int8-8bit`` adds the
full-range file (calibrated on the same tiles) twice: on this CPU's integer kernels, and as its own float
arithmetic computes it (``vnseg.deploy.quantize.float_reference``), which is what a CPU with VNNI gives:
the cost of portability on a VNNI machine, measured on any CPU. ``--openvino`` adds the fp32 and the
portable int8 file on OpenVINO (``vnseg map --backend openvino``).
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from recipe_quality import iou_table  # (benchmarks/ is the script's folder)

REPO = Path(__file__).resolve().parents[1]
TILE, OVERLAP = 512, 128  # as benchmarks/recipe_quality.py scores its scenes


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--test-scenes', required=True, help='prepared scenes folder (img/ + ann/)')
    p.add_argument('--calib-images', nargs='+', required=True, help='int8 calibration images (train scenes)')
    p.add_argument('--calib-tiles', type=int, default=16)
    p.add_argument('--threads', type=int, default=2, help='CPU threads of both runtimes')
    p.add_argument('--work-dir', default='work_dirs/int8_quality')
    p.add_argument('--int8-8bit', action='store_true', help='also the 8-bit-weight file (kernels, float reference)')
    p.add_argument('--openvino', action='store_true', help='also the fp32 and int8 files on OpenVINO')
    return p.parse_args(argv)


def scene_pairs(folder: Path) -> list:
    """``[(image, mask)]`` of a prepared ``scenes/`` folder, sorted by name."""
    pairs = [(img, folder / 'ann' / img.name) for img in sorted((folder / 'img').glob('*.png'))]
    missing = [str(m) for _, m in pairs if not m.is_file()]
    if not pairs or missing:
        raise SystemExit(f'error: {folder}: no img/*.png with masks in ann/' + (f' ({missing[0]})' if missing else ''))
    return pairs


def score(model, pairs, out_dir: Path, num_classes: int):
    """Summed confusion matrix, class maps by scene and seconds of ``model`` over ``pairs``."""
    import rasterio
    from vnseg.apis import infer_large_image
    from vnseg.apis.gis_outputs import OutputOptions
    from vnseg.inference.sliding import WindowOptions
    from vnseg.reports.confusion import confusion_from_arrays, read_mask
    conf = np.zeros((num_classes, num_classes), np.int64)
    maps = {}
    t0 = time.perf_counter()
    for image, mask in pairs:
        res = infer_large_image(model, None, image, out_dir, WindowOptions(tile=TILE, overlap=OVERLAP, batch_size=4,
                                                                           blend='mean'),
                                outputs=OutputOptions(polygons=False, preview=False, report=False, gpkg=False),
                                device='cpu', progress=False)
        with rasterio.open(res.class_map) as ds:
            maps[image.name] = ds.read(1)
        conf += confusion_from_arrays(maps[image.name], read_mask(mask))
    return conf, maps, time.perf_counter() - t0


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    import vnseg.mmseg_ext  # noqa: F401
    from vnseg.apis import load_model
    from vnseg.core.classes import CLASSES, NUM_CLASSES
    from vnseg.inference.tile_models import OnnxTileModel
    pairs = scene_pairs(Path(args.test_scenes))
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    onnx = work / 'model.onnx'
    cmd = [sys.executable, '-m', 'vnseg', 'export', args.config, args.checkpoint, '--out', str(onnx),
           '--int8', '--calib-images', *args.calib_images, '--calib-tiles', str(args.calib_tiles),
           '--parity-image', str(pairs[0][0])]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True)
    print(proc.stdout.strip())
    if proc.returncode != 0:
        print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '', file=sys.stderr)
        return proc.returncode
    print(f'export (fp32 + int8, {args.calib_tiles} calibration tiles): {time.perf_counter() - t0:.0f} s')
    models = {'pytorch': load_model(args.config, args.checkpoint, device='cpu'),
              'onnx fp32': OnnxTileModel(onnx, threads=args.threads),
              'onnx int8': OnnxTileModel(onnx.with_suffix('.int8.onnx'), threads=args.threads)}
    if args.int8_8bit:
        from vnseg.deploy.quantize import QuantizeOptions, calibration_tiles, float_reference, quantize_tile_model
        w8 = work / 'model.w8.int8.onnx'
        quantize_tile_model(onnx, w8, *calibration_tiles(args.calib_images, TILE, args.calib_tiles),
                            QuantizeOptions(weight_bits=8))
        models['int8 8-bit'] = OnnxTileModel(w8, threads=args.threads)
        models['8-bit float ref'] = float_reference(w8, threads=args.threads)
    if args.openvino:
        models['openvino fp32'] = OnnxTileModel(onnx, threads=args.threads, backend='openvino')
        models['openvino int8'] = OnnxTileModel(onnx.with_suffix('.int8.onnx'), threads=args.threads,
                                                backend='openvino')
    rows = {}
    for name, model in models.items():
        conf, maps, seconds = score(model, pairs, work / name.replace(' ', '_'), NUM_CLASSES)
        rows[name] = dict(conf=conf, maps=maps, seconds=seconds)
    ref = rows['pytorch']['maps']
    print(f'\n{len(pairs)} scenes of {args.test_scenes}; tile {TILE}, overlap {OVERLAP}, mean blend')
    from vnseg.deploy.cpu import cpu_int8_features
    print(f"CPU: {cpu_int8_features()['summary']}")
    print(f"{'backend':>15} | {'mIoU':>6} | " + ' '.join(f'{c[:9]:>9}' for c in CLASSES)
          + f" | {'seconds':>7} | {'agree w/ PyTorch %':>18}")
    for name, r in rows.items():
        per_class, miou = iou_table(r['conf'])
        same = sum(int((r['maps'][k] == ref[k]).sum()) for k in ref)
        total = sum(ref[k].size for k in ref)
        r['mIoU'] = miou
        print(f'{name:>15} | {miou:6.2f} | ' + ' '.join(f'{v:9.2f}' for v in per_class)
              + f" | {r['seconds']:7.1f} | {100 * same / total:18.3f}")
    x, y = rows['onnx int8']['mIoU'], rows['onnx fp32']['mIoU']
    print(f'RESULT_INT8 int8_mIoU={x:.2f} fp32_mIoU={y:.2f} delta={x - y:.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
