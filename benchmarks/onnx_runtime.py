"""ONNX Runtime vs PyTorch eager on CPU: the same model, the same real tiles, side by side in one run.

    python benchmarks/onnx_runtime.py [--config configs/segformer_b0_vn.py] [--checkpoint CKPT]
        [--tile 512] [--tiles 16] [--batch-size 4] [--threads 2] [--rounds 3] [--scene 1536x1024]
        [--no-int8] [--calib-images IMG ...] [--calib-tiles 8] [--int8-8bit] [--openvino]

The model (random weights from a fixed seed unless ``--checkpoint``) is exported with
``tools/deployment/export_onnx.py``'s code path. Then:

* tiles: ``--tiles`` real tiles of the Kampala drone mosaic (../shared/data; seeded noise when absent)
  go through ``TorchTileModel.predict`` (mmseg data preprocessor + ``encode_decode``, ``torch.no_grad``)
  and ``OnnxTileModel.predict`` (ONNX Runtime, all graph optimisations), ``--rounds`` alternating
  rounds after a warm-up, with the same number of threads; throughput (tiles/s), the ratio ORT/PyTorch
  (target >= 1.3x) and the pixel agreement of the predicted classes;
* int8: the ONNX graph quantised by ``vnseg.deploy.quantize`` (ONNX Runtime static quantisation, what
  ``vnseg export --int8`` writes), calibrated on ``--calib-tiles`` tiles of ``--calib-images`` (default:
  the mosaic's outer columns, left and right of the timed crop: tiles the timed ones do not include),
  timed in the same alternating rounds; its row gives tiles/s, the ratio to fp32 ONNX Runtime (target
  >= 1.8x) and the pixel agreement with fp32 ONNX Runtime on the timed tiles (target >= 98 %). The int8
  file is the portable one (7-bit weights, ``vnseg export --int8``'s default); ``--int8-8bit`` adds the
  full-range file (right on CPUs with VNNI only) and the same file as its float arithmetic computes it
  (``float ref``: what a CPU with VNNI gives, on any CPU), so that the cost of portability shows on this CPU;
* ``--openvino``: the fp32 and the portable int8 file on OpenVINO's CPU plugin (``vnseg map --backend
  openvino``), in the same rounds;
* whole scene: ``infer_large_image`` on a ``--scene`` crop of the mosaic with each backend (same tile,
  overlap, batch): seconds, ratio and class-map agreement.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KAMPALA = REPO.parent / 'shared' / 'data' / 'kampala_drone' / 'kampala_oam_z21_mosaic.tif'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=str(REPO / 'configs' / 'segformer_b0_vn.py'))
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--tile', type=int, default=512)
    p.add_argument('--tiles', type=int, default=16, help='tiles timed per round')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--threads', type=int, default=2, help='CPU threads of both runtimes')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--scene', default='1536x1024', help='whole-scene crop WxH (0 to skip)')
    p.add_argument('--image', default=str(KAMPALA))
    p.add_argument('--no-int8', dest='int8', action='store_false', help='skip the int8 row')
    p.add_argument('--calib-images', nargs='+', default=None,
                   help="int8 calibration images (default: the mosaic's columns left and right of the timed crop)")
    p.add_argument('--calib-tiles', type=int, default=8, help='int8 calibration tiles (default 8)')
    p.add_argument('--int8-8bit', action='store_true',
                   help='also the 8-bit-weight int8 file, on this CPU and as its float arithmetic computes it')
    p.add_argument('--openvino', action='store_true', help='also run the fp32 and int8 files on OpenVINO')
    return p.parse_args(argv)


def image_width(path: Path) -> int:
    import rasterio
    with rasterio.open(path) as src:
        return src.width


def _scene_image(path: Path, image: Path, w: int, h: int):
    import rasterio
    from rasterio.windows import Window
    if image.exists():
        with rasterio.open(image) as src:
            win = Window(max(0, (src.width - w) // 2), max(0, (src.height - h) // 2), min(w, src.width),
                         min(h, src.height))
            data = src.read([1, 2, 3], window=win)
            prof = dict(driver='GTiff', width=data.shape[2], height=data.shape[1], count=3, dtype='uint8',
                        crs=src.crs, transform=src.window_transform(win))
    else:
        data = np.random.RandomState(0).randint(0, 255, (3, h, w)).astype(np.uint8)
        prof = dict(driver='GTiff', width=w, height=h, count=3, dtype='uint8')
    with rasterio.open(path, 'w', **prof) as dst:
        dst.write(data)
    return path


def _calibration_images(tmp: Path, image: Path, crop_w: int, tile: int):
    """The mosaic's columns left and right of the centred ``crop_w`` crop (``_scene_image``), as two GeoTIFFs
    (none when the mosaic is absent or the crop covers it all)."""
    import rasterio
    from rasterio.windows import Window
    if not image.exists():
        return []
    out = []
    with rasterio.open(image) as src:
        x0 = max(0, (src.width - crop_w) // 2)
        for name, col, width in (('left', 0, x0), ('right', x0 + min(crop_w, src.width), src.width - x0 - crop_w)):
            if width < tile // 2:
                continue
            win = Window(col, 0, width, src.height)
            prof = dict(driver='GTiff', width=width, height=src.height, count=3, dtype='uint8', crs=src.crs,
                        transform=src.window_transform(win))
            with rasterio.open(tmp / f'calib_{name}.tif', 'w', **prof) as dst:
                dst.write(src.read([1, 2, 3], window=win))
            out.append(tmp / f'calib_{name}.tif')
    return out


def main(argv=None):
    args = parse_args(argv)
    import torch

    from vnseg.apis import infer_large_image
    from vnseg.apis.gis_outputs import OutputOptions
    from vnseg.apis.model_loading import inference_config, load_model
    from vnseg.deploy.onnx_export import check_parity, export_onnx, parity_tiles
    from vnseg.inference.sliding import WindowOptions
    from vnseg.inference.sliding import classify
    from vnseg.inference.tile_models import OnnxTileModel, TorchTileModel
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix='vnseg_onnx_bench_'))
    cfg = inference_config(args.config)
    model = load_model(cfg, args.checkpoint, device='cpu', random_weights=args.checkpoint is None)
    onnx_path = tmp / 'model.onnx'
    t = time.perf_counter()
    facts = export_onnx(model, onnx_path, tile=args.tile)
    export_s = time.perf_counter() - t
    w, h = (int(v) for v in args.scene.split('x')) if args.scene != '0' else (0, 0)
    image = _scene_image(tmp / 'scene.tif', Path(args.image), max(w, args.tile * 4), max(h, args.tile * 4))
    rgb, valid = parity_tiles([image], args.tile, args.tiles)
    torch_model = TorchTileModel(model)
    ort_model = OnnxTileModel(onnx_path, providers=['CPUExecutionProvider'], threads=args.threads)

    def run(m):
        out = []
        for b in range(0, len(rgb), args.batch_size):
            out.append(m.predict(rgb[b:b + args.batch_size], valid[b:b + args.batch_size]))
        return np.concatenate(out)

    models = {'pytorch': torch_model, 'onnxruntime': ort_model}
    if args.int8:
        from vnseg.deploy.quantize import QuantizeOptions, calibration_tiles, quantize_tile_model
        calib = args.calib_images or _calibration_images(tmp, Path(args.image), image_width(image), args.tile)
        if calib:
            calib_rgb, calib_valid = calibration_tiles(calib, args.tile, args.calib_tiles)
        else:   # no mosaic: seeded noise, like the timed tiles
            print('note: no calibration images; int8 calibrated on the timed tiles')
            calib_rgb, calib_valid = rgb[:args.calib_tiles], valid[:args.calib_tiles]
        t = time.perf_counter()
        int8 = quantize_tile_model(onnx_path, tmp / 'model.int8.onnx', calib_rgb, calib_valid)
        quant_s = time.perf_counter() - t
        models['onnxruntime int8'] = OnnxTileModel(tmp / 'model.int8.onnx', providers=['CPUExecutionProvider'],
                                                   threads=args.threads)
        if args.int8_8bit:
            from vnseg.deploy.quantize import float_reference
            quantize_tile_model(onnx_path, tmp / 'model.w8.int8.onnx', calib_rgb, calib_valid,
                                QuantizeOptions(weight_bits=8))
            models['ort int8 8-bit'] = OnnxTileModel(tmp / 'model.w8.int8.onnx', providers=['CPUExecutionProvider'],
                                                     threads=args.threads)
            models['int8 8-bit float ref'] = float_reference(models['ort int8 8-bit'], threads=args.threads)
    if args.openvino:
        models['openvino'] = OnnxTileModel(onnx_path, backend='openvino', threads=args.threads)
        if args.int8:
            models['openvino int8'] = OnnxTileModel(tmp / 'model.int8.onnx', backend='openvino', threads=args.threads)
    for m in models.values():   # warm-up
        run(m)
    times = {k: [] for k in models}
    classes = {}
    for _ in range(args.rounds):
        for name, m in models.items():
            t = time.perf_counter()
            scores = run(m)
            times[name].append(time.perf_counter() - t)
            classes[name] = np.stack([classify(s) for s in scores])
    best = {k: min(v) for k, v in times.items()}
    ct, co = classes['pytorch'], classes['onnxruntime']
    agree = float((ct == co).mean())
    parity = check_parity(model, onnx_path, rgb[:4], valid[:4])
    from vnseg.deploy.cpu import cpu_int8_features
    print(f"CPU: {cpu_int8_features()['summary']}")
    print(f'model {Path(args.config).name}, tile {args.tile}, {len(rgb)} real tiles, batch {args.batch_size}, '
          f'{args.threads} threads, {args.rounds} alternating rounds (best); export {export_s:.1f} s '
          f'({facts["exporter"]})')
    print(f"{'runtime':<21} {'s/round':>9} {'tiles/s':>9} {'vs fp32 ORT':>12} {'agreement with fp32 ORT':>24}")
    for k in models:
        ratio = f"{best['onnxruntime'] / best[k]:.2f}x"
        agree_k = f"{100 * float((classes[k] == co).mean()):.3f} %"
        print(f'{k:<21} {best[k]:>9.3f} {len(rgb) / best[k]:>9.2f} {ratio:>12} {agree_k:>24}')
    print(f"throughput ratio ORT/PyTorch: {best['pytorch'] / best['onnxruntime']:.2f}x (target >= 1.3x)")
    if args.int8:
        print(f"throughput ratio int8/fp32 ORT: {best['onnxruntime'] / best['onnxruntime int8']:.2f}x "
              '(target >= 1.8x); '
              f"class agreement with fp32 ORT {100 * float((classes['onnxruntime int8'] == co).mean()):.3f} % "
              f"(target >= 98 %); quantised in {quant_s:.1f} s on {int8['calibration_tiles']} calibration tiles "
              f"({int8['format']}, {'/'.join(int8['op_types'])} in int8, {int8['quant_ops']})")
    print(f'tile pixel agreement: {100 * agree:.3f} %; max |d log p| {parity["max_abs_logprob_diff"]:.2e}, '
          f'max |d p| {parity["max_abs_prob_diff"]:.2e}')
    if w and h:
        import rasterio
        res = {}
        for name, model_arg, ckpt in (('pytorch', model, None), ('onnxruntime', ort_model, None)):
            t = time.perf_counter()
            r = infer_large_image(model_arg, ckpt, image, tmp / name,
                                  WindowOptions(tile=args.tile, batch_size=args.batch_size),
                                  outputs=OutputOptions(preview=False, polygons=False), progress=False)
            res[name] = (time.perf_counter() - t, r)
        with rasterio.open(res['pytorch'][1].class_map) as a, rasterio.open(res['onnxruntime'][1].class_map) as b:
            pa, pb = a.read(1), b.read(1)
        valid_px = pa != 255
        print(f"whole scene {pa.shape[1]}x{pa.shape[0]} px: pytorch {res['pytorch'][0]:.1f} s, onnxruntime "
              f"{res['onnxruntime'][0]:.1f} s, ratio {res['pytorch'][0] / res['onnxruntime'][0]:.2f}x, class-map "
              f'agreement {100 * float((pa == pb)[valid_px].mean()):.3f} %')


if __name__ == '__main__':
    main()
