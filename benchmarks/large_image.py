"""Whole-scene inference: vnseg's streamed tiles vs stock mmseg ``slide``, side by side.

    python benchmarks/large_image.py [--sizes 2048 4096 8192] [--tile 512] [--stride 384]
                                     [--config CFG] [--checkpoint CKPT] [--device cpu|cuda]
                                     [--batch-size N] [--blend mean|gaussian] [--threads N]
                                     [--onnx MODEL.onnx ...]

For each square size the same synthetic RGB GeoTIFF (the Kampala mosaic tiled to size when
../shared/data is present, else seeded noise) is segmented by the same model (random weights unless
``--checkpoint``) with the same crop and stride, each method in its own fresh subprocess so that peak
RSS (:func:`vnseg.testing.memory.peak_rss_mb`) is its own:

* ``stock``: ``mmseg.apis.inference_model`` with ``test_cfg = dict(mode='slide', crop_size, stride)``
  (whole image and whole logits in memory, one window per forward), with mmseg's own ``SegformerHead``
  where the config names vnseg's ``FusedSegformerHead`` (what a CPU training dumps: the same weights);
* ``vnseg``: vnseg's whole-scene inference with PyTorch (``segment_scene`` of
  :mod:`vnseg.apis.scene`: strip of windows, ``--batch-size`` windows per forward (vnseg's
  default), stored strips, class-map and confidence COGs written), then the area table (``post``, timed apart);
* ``vnseg-ort NAME``: the same with each ``--onnx`` model through ONNX Runtime (fp32 and, when
  ``vnseg export --int8`` wrote it beside, the int8 sibling), ``--threads`` intra-op threads.

Timed: from reading the image to having the class map (model build and imports excluded). One row
per size and method: seconds, megapixels/s, peak RSS (and peak CUDA memory), the speed and memory
ratios to stock, pixel agreement with stock's class map (100 % expected for PyTorch with ``--blend
mean``), and where the time went: forward passes (``model s``), everything else up to the class map
(``other s``: reading, blending, classes, confidence, stored strips), the COG assembly (``COG s``);
then the growth of peak memory from the smallest to the largest size.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vnseg.testing.memory import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
KAMPALA = REPO.parent / 'shared' / 'data' / 'kampala_drone' / 'kampala_oam_z21_mosaic.tif'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', type=int, nargs='+', default=[2048, 4096, 8192], help='square image sides (px)')
    p.add_argument('--tile', type=int, default=512, help='crop / window side (px)')
    p.add_argument('--stride', type=int, default=384, help='stride between windows (px)')
    p.add_argument('--config', default=str(REPO / 'configs' / 'segformer_tiny_demo_vn.py'))
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--device', default='cpu')
    p.add_argument('--batch-size', type=int, default=None,
                   help="vnseg windows per forward (default: vnseg's own, 1 for PyTorch on a CPU, else 4)")
    p.add_argument('--blend', default='mean', choices=['mean', 'gaussian'])
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    p.add_argument('--work-dir', default=None, help='where images/outputs go (default: a temp dir)')
    p.add_argument('--onnx', nargs='+', default=None, metavar='MODEL.onnx',
                   help='also run these exported models through ONNX Runtime (and each one\'s .int8.onnx '
                        'sibling when it exists: `vnseg export --int8` writes both)')
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)
    p.add_argument('--onnx-file', default=None, help=argparse.SUPPRESS)
    p.add_argument('--image', default=None, help=argparse.SUPPRESS)
    p.add_argument('--out', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def make_image(path: Path, size: int):
    """A ``size`` x ``size`` RGB GeoTIFF, written strip by strip."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window
    if KAMPALA.exists():
        with rasterio.open(KAMPALA) as k:
            base = k.read([1, 2, 3])
    else:
        base = np.random.RandomState(0).randint(0, 255, (3, 1024, 1024), np.uint8)
    bh, bw = base.shape[1:]
    reps = (size + bw - 1) // bw
    with rasterio.open(path, 'w', driver='GTiff', width=size, height=size, count=3, dtype='uint8',
                       crs='EPSG:32648', transform=from_origin(500000, 1500000, 0.1, 0.1), tiled=True,
                       blockxsize=512, blockysize=512, compress='deflate') as dst:
        for r in range(0, size, 512):
            h = min(512, size - r)
            rows = (np.arange(r, r + h) % bh)
            strip = np.tile(base[:, rows], (1, 1, reps))[:, :, :size]
            dst.write(strip, window=Window(0, r, size, h))


class _Timed:
    """A tile model whose ``predict`` calls are timed (seconds summed in ``seconds``)."""

    def __init__(self, inner):
        self.inner, self.seconds = inner, 0.0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict(self, rgb, valid):
        t = time.perf_counter()
        out = self.inner.predict(rgb, valid)
        self.seconds += time.perf_counter() - t
        return out


def child(args):
    import numpy as np
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes: init_model loads strictly, classes from the config)
    cuda = args.device.startswith('cuda')
    phases = {}
    if args.child.startswith('ort'):
        from vnseg.inference.tile_models import OnnxTileModel
        model = OnnxTileModel(args.onnx_file, threads=args.threads,
                              providers=['CUDAExecutionProvider'] if cuda else ['CPUExecutionProvider'])
    else:
        from mmengine.config import Config
        from mmseg.apis import init_model

        from vnseg.models.fused_segformer_head import as_mmseg_head_config
        cfg = Config.fromfile(args.config)
        if args.child == 'stock':  # stock is mmseg's own head, even where a CPU training fused it
            as_mmseg_head_config(cfg)
        torch.manual_seed(0)
        model = init_model(cfg, args.checkpoint, device=args.device)
    if args.child != 'stock':  # the tile model and what identifies it (the resume manifest): not timed
        from vnseg.apis.scene_model import SceneModel, build_tile_model
        tile_model = _Timed(build_tile_model(model, tile=args.tile))
        scene_model = SceneModel(tile_model)
        scene_model.identity  # hashed here, outside the timed part (kept by the scene model)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    if args.child == 'stock':
        from mmengine.config import ConfigDict
        from mmengine.model import revert_sync_batchnorm
        from mmseg.apis import inference_model
        if not cuda:
            model = revert_sync_batchnorm(model)
        model.test_cfg = ConfigDict(mode='slide', crop_size=(args.tile, args.tile),
                                    stride=(args.stride, args.stride))
        forward, spent = model.encode_decode, [0.0]

        def timed_forward(*a, **k):  # the windows' forwards, as mmseg's slide_inference calls them
            t = time.perf_counter()
            out = forward(*a, **k)
            spent[0] += time.perf_counter() - t
            return out
        model.encode_decode = timed_forward
        pred = inference_model(model, args.image).pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        np.save(args.out, pred)
        shape = pred.shape
        phases = dict(model=spent[0], rest=seconds - spent[0])
    else:
        from vnseg.apis.gis_outputs import OutputOptions
        from vnseg.apis.postprocess import postprocess_scene
        from vnseg.apis.scene import Scene, segment_scene
        from vnseg.geo.raster_io import SourceImage
        from vnseg.inference.sliding import WindowOptions
        with SourceImage(args.image) as source:
            from vnseg.inference.tile_models import default_batch_size
            windows = WindowOptions(tile=args.tile, overlap=args.tile - args.stride, blend=args.blend,
                                    batch_size=args.batch_size or default_batch_size(tile_model.inner))
            scene = Scene(scene_model, source, args.out, windows)
            timings = segment_scene(scene, progress=False)
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0  # the class map (and confidence) COG written
            t = time.perf_counter()
            postprocess_scene(scene, outputs=OutputOptions(polygons=False, preview=False, report=False, gpkg=False))
            post = time.perf_counter() - t
        shape = (source.height, source.width)
        phases = dict(model=tile_model.seconds, rest=timings['segment'] - tile_model.seconds,
                      cog=timings['cog'], post=post)
    print(json.dumps(dict(
        seconds=seconds, peak_rss_mb=peak_rss_mb(),
        peak_cuda_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None, shape=list(shape),
        phases=phases)))


def run_child(args, method, image, out, onnx_file=None):
    cmd = [sys.executable, __file__, '--child', method, '--image', str(image), '--out', str(out),
           '--config', args.config, '--device', args.device, '--tile', str(args.tile),
           '--stride', str(args.stride), '--blend', args.blend]
    if args.batch_size:
        cmd += ['--batch-size', str(args.batch_size)]
    if args.checkpoint:
        cmd += ['--checkpoint', args.checkpoint]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if onnx_file:
        cmd += ['--onnx-file', str(onnx_file)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
    if proc.returncode != 0:
        raise RuntimeError(f'{method} failed:\n{proc.stderr[-4000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def methods(args) -> list:
    """``[(row name, child method, ONNX file or None)]``: stock, vnseg (PyTorch), then each ``--onnx``
    file (and its ``.int8.onnx`` sibling when it exists) through ONNX Runtime."""
    rows = [('stock', 'stock', None), ('vnseg', 'vnseg', None)]
    for f in args.onnx or []:
        f = Path(f)
        rows.append((f'vnseg-ort {f.name}', 'ort', f))
        int8 = f.with_suffix('.int8.onnx')
        if not f.name.endswith('.int8.onnx') and int8.is_file() and str(int8) not in map(str, args.onnx):
            rows.append((f'vnseg-ort {int8.name}', 'ort', int8))
    return rows


def _class_map(work: Path, name: str, size: int):
    import numpy as np
    import rasterio
    if name == 'stock':
        return np.load(work / f'stock_{size}.npy')
    with rasterio.open(work / f'{_safe(name)}_{size}' / f'bench_{size}_classes.tif') as ds:
        return ds.read(1)


def _safe(name: str) -> str:
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in name)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix='vnseg_bench_'))
    work.mkdir(parents=True, exist_ok=True)
    for f in args.onnx or []:
        if not Path(f).is_file():
            print(f'error: {f}: ONNX model not found', file=sys.stderr)
            return 1
    print(f'model {Path(args.config).name}, tile {args.tile}, stride {args.stride}, device {args.device}, '
          f'vnseg batch {args.batch_size or "default"}, blend {args.blend}, threads {args.threads or "default"}')
    rows = []  # one per (size, method)
    for size in args.sizes:
        image = work / f'bench_{size}.tif'
        if not image.exists():
            make_image(image, size)
        for name, method, onnx_file in methods(args):
            out = work / ('stock_%d.npy' % size if method == 'stock' else f'{_safe(name)}_{size}')
            if out.is_dir():  # an earlier run's outputs: vnseg keeps finished rasters, which would not be timed
                shutil.rmtree(out)
            rows.append(dict(size=size, name=name, **run_child(args, method, image, out, onnx_file)))
        stock = _class_map(work, 'stock', size)
        for r in rows:
            if r['size'] == size:
                r['agree'] = float((_class_map(work, r['name'], size) == stock).mean())
        (work / f'stock_{size}.npy').unlink()
    width = max(len(r['name']) for r in rows)
    head = (f"{'image':>11} {'method':<{width}} | {'seconds':>7} {'MPx/s':>6} {'peak MB':>8} | {'speed x':>7} "
            f"{'mem x':>6} {'agree %':>8} | {'model s':>7} {'other s':>7} {'COG s':>6} | {'post s':>6}")
    print(head)
    print('-' * len(head))
    for r in rows:
        s = next(q for q in rows if q['size'] == r['size'] and q['name'] == 'stock')
        ph = r['phases']
        extra = f"  cuda MB {r['peak_cuda_mb']:.0f}" if r['peak_cuda_mb'] is not None else ''
        cog = f"{ph['cog']:6.2f}" if 'cog' in ph else '     -'
        post = f"{ph['post']:6.2f}" if 'post' in ph else '     -'
        print(f"{r['size']:>5}x{r['size']:<5} {r['name']:<{width}} | {r['seconds']:7.2f} "
              f"{r['size'] ** 2 / 1e6 / r['seconds']:6.2f} {r['peak_rss_mb']:8.0f} | "
              f"{s['seconds'] / r['seconds']:7.2f} {r['peak_rss_mb'] / s['peak_rss_mb']:6.2f} "
              f"{100 * r['agree']:8.3f} | {ph['model']:7.2f} {ph['rest']:7.2f} {cog} | {post}{extra}")
    print('seconds: reading the image to the class map (stock: in memory; vnseg: class-map and confidence '
          'COGs written); model s: forward passes; other s: the rest of that (reading, blending, classes, '
          'confidence; vnseg: stored strips); COG s: assembling the COGs (part of seconds); post s: area '
          'table after the class map (not in seconds); speed x / mem x: stock / method and method / stock')
    if len(args.sizes) > 1:
        first, last = min(args.sizes), max(args.sizes)
        for name, _, _ in methods(args):
            a = next(r for r in rows if r['size'] == first and r['name'] == name)
            b = next(r for r in rows if r['size'] == last and r['name'] == name)
            print(f"growth {first}^2 -> {last}^2 ({(last / first) ** 2:.0f}x pixels), {name}: peak RSS "
                  f"{a['peak_rss_mb']:.0f} -> {b['peak_rss_mb']:.0f} MB (+{b['peak_rss_mb'] - a['peak_rss_mb']:.0f}), "
                  f"time x{b['seconds'] / a['seconds']:.1f}")
    print(f'images and outputs in {work}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
