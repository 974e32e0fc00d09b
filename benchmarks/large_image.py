"""Whole-scene inference: vnseg's streamed tiles vs stock mmseg ``slide``, side by side.

    python benchmarks/large_image.py [--sizes 2048 4096 8192] [--tile 512] [--stride 384]
                                     [--config CFG] [--checkpoint CKPT] [--device cpu|cuda]
                                     [--batch-size 4] [--blend mean|gaussian] [--threads N]

For each square size the same synthetic RGB GeoTIFF (the Kampala mosaic tiled to size when
../shared/data is present, else seeded noise) is segmented by the same model (random weights unless
``--checkpoint``) with the same crop and stride, each method in its own fresh subprocess so that peak
RSS (``resource.getrusage(...).ru_maxrss``) is its own:

* ``stock``: ``mmseg.apis.inference_model`` with ``test_cfg = dict(mode='slide', crop_size, stride)``
  (whole image and whole logits in memory, one window per forward);
* ``vnseg``: ``vnseg.apis.infer_large_image`` (strip of windows, ``--batch-size`` windows per forward,
  class-map COG + area table written; polygons and preview off).

Timed: from reading the image to having the class map (model build and imports excluded). The table
gives megapixels/s, the throughput ratio vnseg/stock, peak RSS (and peak CUDA memory), pixel agreement
of the two class maps (100 % expected with ``--blend mean``), and the growth of peak memory from the
smallest to the largest size.
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    p.add_argument('--batch-size', type=int, default=4, help='vnseg windows per forward')
    p.add_argument('--blend', default='mean', choices=['mean', 'gaussian'])
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    p.add_argument('--work-dir', default=None, help='where images/outputs go (default: a temp dir)')
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)
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


def child(args):
    import numpy as np
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes: init_model loads strictly, classes from the config)
    from mmseg.apis import init_model
    torch.manual_seed(0)
    model = init_model(args.config, args.checkpoint, device=args.device)
    cuda = args.device.startswith('cuda')
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
        pred = inference_model(model, args.image).pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        np.save(args.out, pred)
        shape = pred.shape
    else:
        from vnseg.apis import infer_large_image
        res = infer_large_image(model, None, args.image, args.out, tile=args.tile,
                                overlap=args.tile - args.stride, batch_size=args.batch_size,
                                blend=args.blend, device=args.device, write_polygons=False,
                                preview=False, progress=False)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        shape = (res.areas['height'], res.areas['width'])
    print(json.dumps(dict(
        seconds=seconds, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_cuda_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None, shape=list(shape))))


def run_child(args, method, image, out):
    cmd = [sys.executable, __file__, '--child', method, '--image', str(image), '--out', str(out),
           '--config', args.config, '--device', args.device, '--tile', str(args.tile),
           '--stride', str(args.stride), '--batch-size', str(args.batch_size), '--blend', args.blend]
    if args.checkpoint:
        cmd += ['--checkpoint', args.checkpoint]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
    if proc.returncode != 0:
        raise RuntimeError(f'{method} failed:\n{proc.stderr[-4000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args)
    import numpy as np
    import rasterio
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix='vnseg_bench_'))
    work.mkdir(parents=True, exist_ok=True)
    print(f'model {Path(args.config).name}, tile {args.tile}, stride {args.stride}, device {args.device}, '
          f'vnseg batch {args.batch_size}, blend {args.blend}, threads {args.threads or "default"}')
    rows = []
    for size in args.sizes:
        image = work / f'bench_{size}.tif'
        if not image.exists():
            make_image(image, size)
        stock = run_child(args, 'stock', image, work / f'stock_{size}.npy')
        ours = run_child(args, 'vnseg', image, work / f'vnseg_{size}')
        a = np.load(work / f'stock_{size}.npy')
        with rasterio.open(work / f'vnseg_{size}' / f'bench_{size}_classes.tif') as ds:
            b = ds.read(1)
        agree = float((a == b).mean())
        mpx = size * size / 1e6
        rows.append(dict(size=size, stock=stock, vnseg=ours, agree=agree,
                         stock_mpxs=mpx / stock['seconds'], vnseg_mpxs=mpx / ours['seconds']))
        (work / f'stock_{size}.npy').unlink()
    head = (f"{'image':>11} | {'stock s':>8} {'MPx/s':>6} {'peak MB':>8} | {'vnseg s':>8} {'MPx/s':>6} "
            f"{'peak MB':>8} | {'speed x':>7} {'mem ratio':>9} {'agree %':>8}")
    print(head)
    print('-' * len(head))
    for r in rows:
        s, v = r['stock'], r['vnseg']
        extra = ''
        if s['peak_cuda_mb'] is not None:
            extra = f"  cuda MB stock {s['peak_cuda_mb']:.0f} / vnseg {v['peak_cuda_mb']:.0f}"
        print(f"{r['size']:>5}x{r['size']:<5} | {s['seconds']:8.1f} {r['stock_mpxs']:6.2f} "
              f"{s['peak_rss_mb']:8.0f} | {v['seconds']:8.1f} {r['vnseg_mpxs']:6.2f} {v['peak_rss_mb']:8.0f} | "
              f"{r['vnseg_mpxs'] / r['stock_mpxs']:7.2f} {v['peak_rss_mb'] / s['peak_rss_mb']:9.2f} "
              f"{100 * r['agree']:8.3f}{extra}")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        px = (last['size'] / first['size']) ** 2
        print(f"growth {first['size']}^2 -> {last['size']}^2 ({px:.0f}x pixels): peak RSS stock "
              f"{first['stock']['peak_rss_mb']:.0f} -> {last['stock']['peak_rss_mb']:.0f} MB "
              f"(+{last['stock']['peak_rss_mb'] - first['stock']['peak_rss_mb']:.0f}), vnseg "
              f"{first['vnseg']['peak_rss_mb']:.0f} -> {last['vnseg']['peak_rss_mb']:.0f} MB "
              f"(+{last['vnseg']['peak_rss_mb'] - first['vnseg']['peak_rss_mb']:.0f}); time stock x"
              f"{last['stock']['seconds'] / first['stock']['seconds']:.1f}, vnseg x"
              f"{last['vnseg']['seconds'] / first['vnseg']['seconds']:.1f}")
    print(f'images and outputs in {work}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
