"""ONNX Runtime vs PyTorch eager on CPU: the same model, the same real tiles, side by side in one run.

    python benchmarks/onnx_runtime.py [--config configs/segformer_b0_vn.py] [--checkpoint CKPT]
        [--tile 512] [--tiles 16] [--batch-size 4] [--threads 2] [--rounds 3] [--scene 1536x1024]

The model (random weights from a fixed seed unless ``--checkpoint``) is exported with
``tools/deployment/export_onnx.py``'s code path. Then:

* tiles: ``--tiles`` real tiles of the Kampala drone mosaic (../shared/data; seeded noise when absent)
  go through ``TorchTileModel.predict`` (mmseg data preprocessor + ``encode_decode``, ``torch.no_grad``)
  and ``OnnxTileModel.predict`` (ONNX Runtime, all graph optimisations), ``--rounds`` alternating
  rounds after a warm-up, with the same number of threads; throughput (tiles/s), the ratio ORT/PyTorch
  (target >= 1.3x) and the pixel agreement of the predicted classes;
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
    return p.parse_args(argv)


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


def main(argv=None):
    args = parse_args(argv)
    import torch

    from vnseg.apis import infer_large_image
    from vnseg.apis.model_loading import inference_config, load_model
    from vnseg.apis.sliding import classify
    from vnseg.apis.tile_models import OnnxTileModel, TorchTileModel
    from vnseg.deploy.onnx_export import check_parity, export_onnx, parity_tiles
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

    run(torch_model), run(ort_model)   # warm-up
    times = {'pytorch': [], 'onnxruntime': []}
    for _ in range(args.rounds):
        for name, m in (('pytorch', torch_model), ('onnxruntime', ort_model)):
            t = time.perf_counter()
            scores = run(m)
            times[name].append(time.perf_counter() - t)
            if name == 'pytorch':
                ct = np.stack([classify(s) for s in scores])
            else:
                co = np.stack([classify(s) for s in scores])
    best = {k: min(v) for k, v in times.items()}
    agree = float((ct == co).mean())
    parity = check_parity(model, onnx_path, rgb[:4], valid[:4])
    print(f'model {Path(args.config).name}, tile {args.tile}, {len(rgb)} real tiles, batch {args.batch_size}, '
          f'{args.threads} threads, {args.rounds} alternating rounds (best); export {export_s:.1f} s '
          f'({facts["exporter"]})')
    print(f"{'runtime':<12} {'s/round':>9} {'tiles/s':>9}")
    for k in ('pytorch', 'onnxruntime'):
        print(f'{k:<12} {best[k]:>9.3f} {len(rgb) / best[k]:>9.2f}')
    print(f"throughput ratio ORT/PyTorch: {best['pytorch'] / best['onnxruntime']:.2f}x (target >= 1.3x)")
    print(f'tile pixel agreement: {100 * agree:.3f} %; max |d log p| {parity["max_abs_logprob_diff"]:.2e}, '
          f'max |d p| {parity["max_abs_prob_diff"]:.2e}')
    if w and h:
        import rasterio
        res = {}
        for name, model_arg, ckpt in (('pytorch', model, None), ('onnxruntime', ort_model, None)):
            t = time.perf_counter()
            r = infer_large_image(model_arg, ckpt, image, tmp / name, tile=args.tile, batch_size=args.batch_size,
                                  progress=False, preview=False, write_polygons=False)
            res[name] = (time.perf_counter() - t, r)
        with rasterio.open(res['pytorch'][1].class_map) as a, rasterio.open(res['onnxruntime'][1].class_map) as b:
            pa, pb = a.read(1), b.read(1)
        valid_px = pa != 255
        print(f"whole scene {pa.shape[1]}x{pa.shape[0]} px: pytorch {res['pytorch'][0]:.1f} s, onnxruntime "
              f"{res['onnxruntime'][0]:.1f} s, ratio {res['pytorch'][0] / res['onnxruntime'][0]:.2f}x, class-map "
              f'agreement {100 * float((pa == pb)[valid_px].mean()):.3f} %')


if __name__ == '__main__':
    main()
