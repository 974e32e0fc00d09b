"""The steps of ``benchmarks/gpu_check.sh``: one-shot checks of vnseg on a lent GPU machine (torch only there).

    python benchmarks/gpu_check.py prepare --dir DIR [--checkpoint CKPT] [--tiny] [--no-onnx] [--wheel SPEC]
    python benchmarks/gpu_check.py STEP --dir DIR --out OUT [--dry-run]      (STEP: see STEPS)
    python benchmarks/gpu_check.py summary --dir DIR --out OUT

A developer's check, not a ``vnseg`` subcommand: it is not in the wheel. It imports vnseg from the
checkout (``benchmarks/gpu_check.sh`` puts the checkout on ``PYTHONPATH``), and on the lent machine only
the parts of vnseg that need no numpy (:mod:`vnseg.core.atomic`, :mod:`vnseg.deploy.agreement`).

The lent machine has Python 3.12 and torch 2.11 with CUDA, but no mmcv, no mmseg and no package
registry, and 15 minutes in all: mmcv 2.1.0 cannot be compiled there in time, so no mmseg model can be
built on it. What can be checked honestly is what travels as files: ``prepare`` (here, in the full
environment) writes DIR with

- ``tile_model.pt``: vnseg's deployment graph (:func:`vnseg.deploy.onnx_export.TileForward`: RGB [0, 1]
  -> class probabilities, the same graph the ONNX export holds) of the recipe's SegFormer-B0, traced to
  TorchScript: loadable by torch alone;
- ``tiles.pt``: tiles of a synthetic drone scene (uint8) and the reference classes and top-2 margins of
  eager PyTorch fp32 on CPU here; ``scene.pt``: the scene and its reference whole-scene class map
  (vnseg's sliding-window inference, :mod:`vnseg.inference.sliding`);
- ``model.onnx`` / ``model.int8.onnx``: the same model exported by ``vnseg export`` (``--int8``);
- ``wheels/``: optional wheels for Python 3.12 (``--wheel numpy``), unpacked there into ``site/``;
- ``manifest.json``: what was made, with which torch, the files' sizes.

The steps (each a process of its own with a time limit, run by ``benchmarks/gpu_check.sh``; each writes
``OUT/steps/STEP.json`` with a ``status`` of ok / fail / skipped and its figures):

- ``env``: Python, torch, CUDA, the GPU, bf16 support, numpy / onnxruntime and its providers;
- ``torch_ops``: matmul and convolution (NCHW and channels_last) on CUDA against CPU, fp32 (TF32 off),
  TF32 and bf16, and the matmul rates (TFLOP/s);
- ``traced_model``: the TorchScript tile model on CPU (it loads in that torch, and agrees with the
  reference made here) and on CUDA in fp32, TF32 and bf16 autocast (agreement with CPU, largest
  probability difference), and tiles/s at batch 8;
- ``onnx``: the ONNX models (fp32, int8) through vnseg's ``OnnxTileModel`` on onnxruntime's CUDA provider
  against its CPU provider and the reference (needs numpy and onnxruntime on the machine: skipped else);
- ``train_step``: training steps of the traced model on CUDA (AdamW, fp32 and bf16 autocast with fp32
  master weights): finite losses and gradients, steps/s, peak memory -- a first figure of GPU training
  speed, not mmseg's Runner (which cannot run there);
- ``sliding``: vnseg's whole-scene sliding-window inference with the traced model on CUDA against CPU
  and the reference class map (needs numpy).

``--dry-run`` runs every step on CPU (CUDA replaced by CPU, tiny sizes), to prove the script here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from vnseg.core.atomic import atomic_write_text
from vnseg.deploy.agreement import agreeing_pixels

STEPS = ('env', 'torch_ops', 'traced_model', 'onnx', 'train_step', 'sliding')
#: pass marks: classes agreeing on pixels whose reference top-2 margin is >= MARGIN (random weights give
#: near-ties: a flip there says nothing), fp32 and TF32 / bf16
MARGIN = 1e-3
MIN_AGREEMENT_FP32 = 0.999
MIN_AGREEMENT_LOW = 0.95
MAX_PROB_DIFF_FP32 = 1e-3
PYTHON_WHEEL_TAGS = ('--python-version', '3.12', '--implementation', 'cp', '--abi', 'cp312',
                     '--platform', 'manylinux_2_28_x86_64', '--platform', 'manylinux_2_17_x86_64',
                     '--platform', 'manylinux2014_x86_64', '--only-binary=:all:', '--no-deps')


class Skip(Exception):
    """The step cannot run on this machine (the reason is the message)."""


def _write_json(path: Path, data) -> None:
    """``data`` as JSON in the order given (steps in :data:`STEPS` order), atomically."""
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


def _device(args) -> str:
    return 'cpu' if args.dry_run else 'cuda'


def _sync(device):
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _timed(fn, device, warmup, repeats):
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls (device synchronised)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def _need_cuda(args):
    import torch
    if not args.dry_run and not torch.cuda.is_available():
        raise RuntimeError('torch sees no CUDA device (torch.cuda.is_available() is False)')


def _precision(tf32: bool):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


# -- prepare (here, full environment) -------------------------------------------------------------------
def prepare(args) -> dict:
    """Write the files the lent machine needs into ``--dir`` (see the module doc); returns the manifest."""
    import shutil
    import subprocess
    import tempfile

    import numpy as np
    import torch
    from PIL import Image

    from vnseg.apis.model_loading import inference_config, load_model
    from vnseg.deploy.onnx_export import TileForward, fill_rgb01
    from vnseg.inference.sliding import TiledSegmenter
    from vnseg.testing.synthetic_scenes import generate_scenes

    repo = Path(__file__).resolve().parents[1]
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    tiny = args.tiny
    config = args.config or str(repo / 'configs' / ('segformer_tiny_demo_vn.py' if tiny else
                                                    'segformer_b0_recipe_vn.py'))
    tile = args.tile or (64 if tiny else 512)
    n_tiles = 2 if tiny else 4
    scene_hw = (2 * tile - tile // 4, 2 * tile + tile // 2)  # 2 x 3 windows at overlap tile / 4
    t0 = time.perf_counter()
    torch.manual_seed(0)
    cfg = inference_config(config)
    model = load_model(cfg, args.checkpoint, device='cpu', random_weights=args.checkpoint is None)
    forward = TileForward(model, tile).cpu().eval()
    with tempfile.TemporaryDirectory() as tmp:
        generate_scenes(tmp, num_scenes=1, size=scene_hw, seed=3)
        scene = np.asarray(Image.open(next(Path(tmp).glob('*.png'))).convert('RGB')).transpose(2, 0, 1).copy()
        # the tiles: windows of the scene
        h, w = scene.shape[1:]
        starts = [(0, 0), (0, w - tile), (h - tile, 0), (h - tile, w - tile)][:n_tiles]
        tiles = np.stack([scene[:, y:y + tile, x:x + tile] for y, x in starts])
        x = torch.from_numpy(tiles).float() / 255.0
        with torch.no_grad():
            ref = forward(x)
            traced = torch.jit.trace(forward, x[:2], check_trace=False)
            traced_out = traced(x)  # another batch size than the trace's: the batch stays dynamic
        diff = float((traced_out - ref).abs().max())
        if diff > 1e-4:
            raise RuntimeError(f'the traced tile model differs from the eager one by {diff:.2e} (batch {n_tiles})')
        top2 = ref.topk(2, dim=1).values
        torch.jit.save(traced, str(out / 'tile_model.pt'))
        torch.save(dict(rgb=torch.from_numpy(tiles), classes=ref.argmax(1).to(torch.uint8),
                        margin=(top2[:, 0] - top2[:, 1]).to(torch.float16)), out / 'tiles.pt')
        # the whole scene by vnseg's sliding-window inference, eager fp32 on CPU
        fill = fill_rgb01(model)
        seg = TiledSegmenter(ScriptTileModel(forward, forward.num_classes, 'cpu', fill), tile=tile,
                             overlap=tile // 4, batch_size=2)
        scene_classes = np.concatenate([s.classes for s in seg.iter_strips(ArraySource(scene), progress=False)])
        torch.save(dict(rgb=torch.from_numpy(scene), classes=torch.from_numpy(scene_classes)), out / 'scene.pt')
        onnx = {}
        if not args.no_onnx and tiny:  # the graph alone, in this process (the dry run's, in seconds)
            from vnseg.deploy.onnx_export import export_onnx
            export_onnx(model, out / 'model.onnx', tile=tile)
            onnx = dict(fp32='model.onnx')
        elif not args.no_onnx:  # `vnseg export --int8`: metadata, parity check, int8 as users get them
            ckpt = Path(tmp) / 'weights.pth'
            torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
            png = Path(tmp) / 'scene_for_export.png'
            Image.fromarray(scene.transpose(1, 2, 0)).save(png)
            cmd = [sys.executable, '-m', 'vnseg', 'export', config, str(ckpt), '--out', str(out / 'model.onnx'),
                   '--tile', str(tile), '--parity-image', str(png), '--parity-tiles', '2', '--min-agreement', '0',
                   '--resolution-cm', '5', '--int8', '--calib-images', str(png), '--calib-tiles', '4',
                   '--min-int8-agreement', '0']
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=repo,
                                  env=dict(os.environ, PYTHONPATH=str(repo)))
            if proc.returncode != 0:
                raise RuntimeError(f'vnseg export failed ({proc.returncode}): {proc.stderr[-2000:]}')
            onnx = {k: p.name for k, p in (('fp32', out / 'model.onnx'), ('int8', out / 'model.int8.onnx'))
                    if p.is_file()}
            for extra in out.glob('model*.model_card.*'):  # (model cards: not needed there)
                extra.unlink()
    wheels = []
    for spec in args.wheel or []:
        (out / 'wheels').mkdir(exist_ok=True)
        subprocess.run([sys.executable, '-m', 'pip', 'download', *PYTHON_WHEEL_TAGS, '-d', str(out / 'wheels'),
                        spec], check=True)
    if (out / 'wheels').is_dir():
        wheels = sorted(p.name for p in (out / 'wheels').glob('*.whl'))
    shutil.rmtree(out / 'site', ignore_errors=True)
    manifest = dict(
        made=time.strftime('%Y-%m-%d %H:%M:%S'), torch=torch.__version__, python=platform.python_version(),
        config=os.path.relpath(config, repo), checkpoint=args.checkpoint or 'random weights (seed 0)',
        tile=tile, num_classes=int(forward.num_classes), tiles=n_tiles, scene_shape=list(scene.shape),
        overlap=tile // 4, fill_rgb01=fill, onnx=onnx, wheels=wheels, tiny=tiny, margin=MARGIN,
        seconds=round(time.perf_counter() - t0, 1))
    manifest['files'] = {p.name: p.stat().st_size for p in sorted(out.rglob('*')) if p.is_file()}
    manifest['total_mib'] = round(sum(manifest['files'].values()) / 2 ** 20, 1)
    _write_json(out / 'manifest.json', manifest)
    return manifest


# -- tile-model adapters (vnseg.inference.sliding's interface) --------------------------------------------------
class ScriptTileModel:
    """A tile forward (RGB [0, 1] -> probabilities; eager or TorchScript) as a vnseg tile model:
    ``predict(rgb uint8 (n, 3, t, t), valid bool (n, t, t)) -> float32 log-probabilities``."""

    def __init__(self, module, num_classes, device, fill_rgb01, autocast_dtype=None):
        self.module, self.num_classes, self.device = module, int(num_classes), device
        self.fill = fill_rgb01
        self.autocast_dtype = autocast_dtype

    def predict(self, rgb, valid):
        import numpy as np
        import torch
        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).float() / 255.0
        v = torch.from_numpy(np.ascontiguousarray(valid)).to(self.device)[:, None]
        fill = torch.tensor(self.fill, device=self.device).view(1, 3, 1, 1)
        x = torch.where(v, x, fill)
        kind = 'cuda' if str(self.device).startswith('cuda') else 'cpu'
        with torch.no_grad(), torch.autocast(kind, dtype=self.autocast_dtype or torch.bfloat16,
                                             enabled=self.autocast_dtype is not None):
            p = self.module(x)
        return torch.log(p.float().clamp_min(1e-12)).cpu().numpy()


class ArraySource:
    """An in-memory uint8 ``(3, H, W)`` image as a source of :class:`vnseg.inference.sliding.TiledSegmenter`."""

    def __init__(self, rgb):
        self.rgb = rgb
        self.height, self.width = int(rgb.shape[1]), int(rgb.shape[2])

    def read_rgb(self, row0, col0, height, width):
        return self.rgb[:, row0:row0 + height, col0:col0 + width]

    def read_valid(self, row0, col0, height, width):
        import numpy as np
        return np.ones((height, width), bool)


# -- the steps (there) -----------------------------------------------------------------------------------
def _manifest(args) -> dict:
    path = Path(args.dir) / 'manifest.json'
    if not path.is_file():
        raise RuntimeError(f'{path}: missing (run `bash benchmarks/gpu_check.sh --prepare` here first, and carry '
                           'the folder)')
    return json.loads(path.read_text())


def _agreement(classes, ref_classes, margin=None):
    """Share of pixels whose class is the reference's: all, and where the reference's margin >= MARGIN."""
    classes, ref_classes = classes.cpu(), ref_classes.cpu().to(classes.dtype)
    agree, total = agreeing_pixels(classes, ref_classes)
    out = dict(agreement=round(agree / total, 6))
    if margin is not None:
        agree, decided = agreeing_pixels(classes, ref_classes, margin.cpu().float() >= MARGIN)
        out['agreement_decided'] = round(agree / decided, 6) if decided else None
        out['decided_share'] = round(decided / total, 4)
    return out


def step_env(args) -> dict:
    import importlib
    import shutil
    import subprocess

    import torch
    info = dict(python=platform.python_version(), torch=torch.__version__, torch_cuda=torch.version.cuda,
                cuda_available=torch.cuda.is_available(), cpus=os.cpu_count(), dry_run=args.dry_run,
                torch_threads=torch.get_num_threads())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, capability=f'{props.major}.{props.minor}',
                    gpu_memory_gib=round(props.total_memory / 2 ** 30, 1), gpu_count=torch.cuda.device_count(),
                    bf16_supported=torch.cuda.is_bf16_supported(), cudnn=torch.backends.cudnn.version())
    if shutil.which('nvidia-smi'):
        smi = subprocess.run(['nvidia-smi', '--query-gpu=name,driver_version,memory.total,utilization.gpu',
                              '--format=csv,noheader'], capture_output=True, text=True, timeout=30)
        info['nvidia_smi'] = smi.stdout.strip() or smi.stderr.strip()
    for name in ('numpy', 'onnxruntime', 'mmcv', 'mmengine', 'mmseg'):
        try:
            module = importlib.import_module(name)
            info[name] = getattr(module, '__version__', 'present')
            if name == 'onnxruntime':
                info['onnxruntime_providers'] = module.get_available_providers()
        except Exception as exc:  # (absent, or present but broken)
            info[name] = f'not importable: {type(exc).__name__}'
    site = Path(args.dir) / 'site'
    info['carried_wheels_unpacked'] = sorted(p.name for p in site.iterdir()) if site.is_dir() else []
    if not args.dry_run and not torch.cuda.is_available():
        info['status'] = 'fail'
        info['error'] = 'torch sees no CUDA device'
    return info


def step_torch_ops(args) -> dict:
    import torch
    _need_cuda(args)
    dev = _device(args)
    n = 256 if args.dry_run else 4096
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    ref = a.double() @ b.double()
    res = {}

    def rel(x):
        return float((x.double().cpu() - ref).norm() / ref.norm())

    _precision(False)
    res['matmul_fp32_rel_err'] = rel(a.to(dev) @ b.to(dev))
    _precision(True)
    res['matmul_tf32_rel_err'] = rel(a.to(dev) @ b.to(dev))
    res['matmul_bf16_rel_err'] = rel(a.to(dev).bfloat16() @ b.to(dev).bfloat16())
    _precision(False)
    x = torch.randn(8, 32, 64, 64, generator=g)
    w = torch.randn(64, 32, 3, 3, generator=g)
    conv_ref = torch.nn.functional.conv2d(x.double(), w.double(), padding=1)

    def conv_rel(y):
        return float((y.double().cpu() - conv_ref).norm() / conv_ref.norm())

    xd, wd = x.to(dev), w.to(dev)
    res['conv_fp32_rel_err'] = conv_rel(torch.nn.functional.conv2d(xd, wd, padding=1))
    cl = torch.channels_last
    res['conv_channels_last_fp32_rel_err'] = conv_rel(torch.nn.functional.conv2d(
        xd.contiguous(memory_format=cl), wd.contiguous(memory_format=cl), padding=1))
    kind = 'cuda' if dev == 'cuda' else 'cpu'
    with torch.autocast(kind, dtype=torch.bfloat16):
        res['conv_bf16_autocast_rel_err'] = conv_rel(torch.nn.functional.conv2d(xd, wd, padding=1))
    # matmul rates (informative)
    m = 512 if args.dry_run else 8192
    reps = 1 if args.dry_run else 10
    for name, dtype, tf32 in (('fp32', torch.float32, False), ('tf32', torch.float32, True),
                              ('bf16', torch.bfloat16, False)):
        _precision(tf32)
        p = torch.randn(m, m, device=dev, dtype=dtype)
        q = torch.randn(m, m, device=dev, dtype=dtype)
        sec = _timed(lambda: p @ q, dev, 1 if args.dry_run else 3, reps)
        res[f'matmul_{name}_tflops'] = round(2 * m ** 3 / sec / 1e12, 2)
    _precision(False)
    ok = (res['matmul_fp32_rel_err'] < 1e-5 and res['conv_fp32_rel_err'] < 1e-5
          and res['conv_channels_last_fp32_rel_err'] < 1e-5 and res['matmul_bf16_rel_err'] < 2e-2
          and res['conv_bf16_autocast_rel_err'] < 2e-2)
    res['status'] = 'ok' if ok else 'fail'
    return res


def _tiles(args):
    import torch
    return torch.load(Path(args.dir) / 'tiles.pt', weights_only=True)


def _load_script(args, device):
    import torch
    path = Path(args.dir) / 'tile_model.pt'
    try:
        return torch.jit.load(str(path), map_location=device)
    except Exception as exc:
        raise RuntimeError(f'{path}: torch {torch.__version__} cannot load the TorchScript tile model '
                           f'({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""})') from exc


def _probs(module, x, device, batch=2, dtype=None):
    import torch
    kind = 'cuda' if device.startswith('cuda') else 'cpu'
    outs = []
    with torch.no_grad(), torch.autocast(kind, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        for i in range(0, len(x), batch):
            outs.append(module(x[i:i + batch].to(device)).float().cpu())
    return torch.cat(outs)


def step_traced_model(args) -> dict:
    import torch
    manifest = _manifest(args)
    _need_cuda(args)
    dev = _device(args)
    data = _tiles(args)
    x = data['rgb'].float() / 255.0
    res = dict(model=manifest['config'], weights=manifest['checkpoint'], tile=manifest['tile'],
               made_with_torch=manifest['torch'])
    cpu = _load_script(args, 'cpu')
    p_cpu = _probs(cpu, x, 'cpu')
    res['cpu_vs_reference'] = _agreement(p_cpu.argmax(1), data['classes'], data['margin'])
    gpu = _load_script(args, dev)
    checks = [res['cpu_vs_reference']['agreement_decided'] >= MIN_AGREEMENT_FP32]
    for name, tf32, dtype in (('fp32', False, None), ('tf32', True, None), ('bf16_autocast', False, torch.bfloat16)):
        _precision(tf32)
        p = _probs(gpu, x, dev, dtype=dtype)
        entry = _agreement(p.argmax(1), data['classes'], data['margin'])
        entry['max_abs_prob_diff_vs_cpu'] = float((p - p_cpu).abs().max())
        res[f'{dev}_{name}'] = entry
        low = MIN_AGREEMENT_FP32 if name == 'fp32' else MIN_AGREEMENT_LOW
        checks.append(entry['agreement_decided'] is None or entry['agreement_decided'] >= low)
        if name == 'fp32':
            checks.append(entry['max_abs_prob_diff_vs_cpu'] <= MAX_PROB_DIFF_FP32)
    # speed, batch 8 (informative)
    batch = 2 if args.dry_run else 8
    xb = x.repeat((batch + len(x) - 1) // len(x), 1, 1, 1)[:batch].to(dev)
    for name, tf32, dtype in (('fp32', False, None), ('tf32', True, None), ('bf16_autocast', False, torch.bfloat16)):
        _precision(tf32)
        kind = 'cuda' if dev == 'cuda' else 'cpu'

        def run():
            with torch.no_grad(), torch.autocast(kind, dtype=torch.bfloat16, enabled=dtype is not None):
                gpu(xb)

        sec = _timed(run, dev, 1 if args.dry_run else 3, 1 if args.dry_run else 10)
        res[f'{name}_tiles_per_s_batch{batch}'] = round(batch / sec, 2)
    _precision(False)
    res['status'] = 'ok' if all(checks) else 'fail'
    return res


def step_train_step(args) -> dict:
    import torch
    manifest = _manifest(args)
    _need_cuda(args)
    dev = _device(args)
    data = _tiles(args)
    batch = 2 if args.dry_run else 8
    steps, warmup = (2, 1) if args.dry_run else (10, 3)
    x = (data['rgb'].float() / 255.0).repeat(4, 1, 1, 1)[:batch].to(dev)
    labels = data['classes'].long().repeat(4, 1, 1)[:batch].to(dev)
    res = dict(batch=batch, tile=manifest['tile'], steps=steps,
               note='the traced deployment graph trained with NLL on its probabilities: not the recipe')
    ok = True
    for name, dtype in (('fp32', None), ('bf16_autocast', torch.bfloat16)):
        _precision(False)
        model = _load_script(args, dev)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params[:3]]
        opt = torch.optim.AdamW(params, lr=1e-4)
        losses = []
        kind = 'cuda' if dev == 'cuda' else 'cpu'

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(kind, dtype=torch.bfloat16, enabled=dtype is not None):
                p = model(x)
            loss = torch.nn.functional.nll_loss(torch.log(p.float().clamp_min(1e-8)), labels)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))

        if dev == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        sec = _timed(step, dev, warmup, steps)
        grads_finite = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params)
        entry = dict(steps_per_s=round(1 / sec, 3), images_per_s=round(batch / sec, 2),
                     loss_first=losses[0], loss_last=losses[-1],
                     losses_finite=all(v == v and abs(v) != float('inf') for v in losses),
                     grads_finite=grads_finite, master_weights_fp32=all(p.dtype == torch.float32 for p in params),
                     params_updated=any(not torch.equal(b, p.detach()) for b, p in zip(before, params)))
        if dev == 'cuda':
            entry['peak_memory_gib'] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
        res[name] = entry
        ok = ok and entry['losses_finite'] and grads_finite and entry['master_weights_fp32'] and entry['params_updated']
    res['status'] = 'ok' if ok else 'fail'
    return res


def step_onnx(args) -> dict:
    manifest = _manifest(args)
    if not manifest.get('onnx'):
        raise Skip('no ONNX model was prepared (prepare --no-onnx)')
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as exc:
        raise Skip(f'{exc.name} is not installed here (onnxruntime-gpu is ~300 MB: over what can be carried)')
    import torch

    from vnseg.inference.sliding import classify
    from vnseg.inference.tile_models import OnnxTileModel
    providers = ort.get_available_providers()
    res = dict(onnxruntime=ort.__version__, providers=providers)
    data = _tiles(args)
    rgb = data['rgb'].numpy()
    valid = np.ones((rgb.shape[0],) + rgb.shape[2:], bool)
    want = 'CPUExecutionProvider' if args.dry_run else 'CUDAExecutionProvider'
    checks = []
    for kind, name in manifest['onnx'].items():
        path = Path(args.dir) / name
        entry = {}
        cpu = OnnxTileModel(path, providers=['CPUExecutionProvider'])
        s_cpu = cpu.predict(rgb, valid)
        c_cpu = torch.from_numpy(np.stack([classify(s) for s in s_cpu]))
        entry['cpu_vs_torch_reference'] = _agreement(c_cpu, data['classes'], data['margin'])
        if want in providers:
            gpu = OnnxTileModel(path, providers=[want, 'CPUExecutionProvider'])
            entry['session_providers'] = gpu.session.get_providers()
            s_gpu = gpu.predict(rgb, valid)
            c_gpu = torch.from_numpy(np.stack([classify(s) for s in s_gpu]))
            entry['gpu_vs_cpu'] = _agreement(c_gpu, c_cpu)
            entry['gpu_vs_torch_reference'] = _agreement(c_gpu, data['classes'], data['margin'])
            entry['max_abs_logprob_diff_gpu_vs_cpu'] = float(np.abs(s_gpu - s_cpu).max())
            entry['gpu_provider_used'] = entry['session_providers'][0] == want
            low = MIN_AGREEMENT_FP32 if kind == 'fp32' else MIN_AGREEMENT_LOW
            checks.append(entry['gpu_provider_used'] and entry['gpu_vs_cpu']['agreement'] >= low)
        res[kind] = entry
    if want not in providers:
        res['status'] = 'skipped'
        res['reason'] = f'onnxruntime {ort.__version__} has no {want} (providers: {providers}); CPU figures only'
    else:
        res['status'] = 'ok' if all(checks) else 'fail'
    return res


def step_sliding(args) -> dict:
    manifest = _manifest(args)
    try:
        import numpy as np
    except ImportError:
        raise Skip('numpy is not installed here (carry it: prepare --wheel numpy)')
    import torch

    from vnseg.inference.sliding import TiledSegmenter
    _need_cuda(args)
    dev = _device(args)
    scene = torch.load(Path(args.dir) / 'scene.pt', weights_only=True)
    rgb, ref = scene['rgb'].numpy(), scene['classes'].numpy()
    res = dict(scene=list(rgb.shape), tile=manifest['tile'], overlap=manifest['overlap'])
    maps = {}
    for where in ('cpu', dev) if dev != 'cpu' else ('cpu',):
        _precision(False)
        model = ScriptTileModel(_load_script(args, where), manifest['num_classes'], where, manifest['fill_rgb01'])
        seg = TiledSegmenter(model, tile=manifest['tile'], overlap=manifest['overlap'], batch_size=4)
        t0 = time.perf_counter()
        maps[where] = np.concatenate([s.classes for s in seg.iter_strips(ArraySource(rgb), progress=False)])
        _sync(where)
        res[f'{where}_seconds'] = round(time.perf_counter() - t0, 3)
        res[f'{where}_vs_reference'] = round(float((maps[where] == ref).mean()), 6)
    res[f'{dev}_vs_cpu'] = round(float((maps[dev] == maps['cpu']).mean()), 6)
    ok = res['cpu_vs_reference'] >= MIN_AGREEMENT_LOW and res[f'{dev}_vs_cpu'] >= MIN_AGREEMENT_LOW
    res['status'] = 'ok' if ok else 'fail'
    return res


# -- summary -------------------------------------------------------------------------------------------------
def summary(args) -> dict:
    out = Path(args.out)
    steps = {}
    for name in STEPS:
        path = out / 'steps' / f'{name}.json'
        steps[name] = json.loads(path.read_text()) if path.is_file() else dict(status='not run')
    manifest_path = Path(args.dir) / 'manifest.json'
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    result = dict(dry_run=args.dry_run, manifest=manifest, steps=steps,
                  passed=all(s.get('status') in ('ok', 'skipped') for s in steps.values()))
    _write_json(out / 'gpu_check.json', result)
    env = steps.get('env', {})
    lines = ['# vnseg GPU check' + (' (dry run on CPU)' if args.dry_run else ''), '',
             f"{env.get('gpu', 'no GPU')} (capability {env.get('capability', '-')}), torch {env.get('torch', '?')} "
             f"CUDA {env.get('torch_cuda', '-')}, Python {env.get('python', '?')}; numpy {env.get('numpy', '?')}, "
             f"onnxruntime {env.get('onnxruntime', '?')}", '']
    if manifest:
        lines += [f"Model: {manifest['config']} ({manifest['checkpoint']}), tile {manifest['tile']}, prepared "
                  f"{manifest['made']} with torch {manifest['torch']}", '']
    lines += ['| step | status | seconds | figures |', '|---|---|---|---|']
    for name, s in steps.items():
        figures = {k: v for k, v in s.items() if k not in ('status', 'seconds', 'error', 'reason', 'log_tail')}
        text = json.dumps(figures, default=str)
        if len(text) > 600:
            text = text[:600] + ' ...'
        note = s.get('error') or s.get('reason') or ''
        lines.append(f"| {name} | {s.get('status')}{': ' + note if note else ''} | {s.get('seconds', '')} | "
                     f"`{text}` |")
    lines += ['', f"Overall: {'PASSED' if result['passed'] else 'FAILED'} (ok or skipped steps only); every figure "
              'in gpu_check.json.']
    atomic_write_text(out / 'gpu_check.md', '\n'.join(lines) + '\n')
    return result


STEP_FUNCTIONS = dict(env=step_env, torch_ops=step_torch_ops, traced_model=step_traced_model, onnx=step_onnx,
                      train_step=step_train_step, sliding=step_sliding)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog='python benchmarks/gpu_check.py',
                                description='the steps of benchmarks/gpu_check.sh (see its --help)')
    p.add_argument('what', choices=('prepare', 'summary') + STEPS)
    p.add_argument('--dir', default='work_dirs/gpu_check', help='the prepared folder (carried to the machine)')
    p.add_argument('--out', default=None, help='where steps/STEP.json and the summary go')
    p.add_argument('--dry-run', action='store_true', help='CPU instead of CUDA, tiny sizes')
    p.add_argument('--tiny', action='store_true', help='prepare: the tiny demo SegFormer, 64-pixel tiles')
    p.add_argument('--config', default=None, help='prepare: model config (default the recipe SegFormer-B0)')
    p.add_argument('--checkpoint', default=None, help='prepare: trained weights (default: random, seed 0)')
    p.add_argument('--tile', type=int, default=None, help='prepare: tile side (default 512; tiny: 64)')
    p.add_argument('--no-onnx', action='store_true', help='prepare: no ONNX export')
    p.add_argument('--wheel', nargs='+', default=None, metavar='SPEC',
                   help='prepare: also download these wheels for CPython 3.12 manylinux (no dependencies)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.what == 'prepare':
        manifest = prepare(args)
        print(json.dumps({k: manifest[k] for k in ('config', 'tile', 'onnx', 'wheels', 'total_mib', 'seconds')}))
        return 0
    if args.out is None:
        args.out = 'work_dirs/gpu_check_out'
    if args.what == 'summary':
        result = summary(args)
        print((Path(args.out) / 'gpu_check.md').read_text())
        return 0 if result['passed'] else 1
    t0 = time.perf_counter()
    try:
        res = STEP_FUNCTIONS[args.what](args)
        res.setdefault('status', 'ok')
    except Skip as exc:
        res = dict(status='skipped', reason=str(exc))
    except Exception as exc:  # a failed check is a result, recorded with its reason
        import traceback
        res = dict(status='fail', error=f'{type(exc).__name__}: {exc}', traceback=traceback.format_exc()[-3000:])
    res['seconds'] = round(time.perf_counter() - t0, 2)
    _write_json(Path(args.out) / 'steps' / f'{args.what}.json', res)
    print(json.dumps(res, default=str)[:2000])
    return 0 if res['status'] in ('ok', 'skipped') else 1


if __name__ == '__main__':
    sys.exit(main())
