#!/usr/bin/env python
"""The recipe's training step on CPU, variants side by side: eager fp32, channels_last, bf16, compile, threads, workers.

    python benchmarks/train_step.py [--config configs/segformer_b0_recipe_vn.py] [--variants NAME ...]
        [--batch 8] [--crop 256] [--steps 10] [--warmup 3] [--rounds 2] [--budget-iters 750]
        [--scenes 8] [--scene-size 768] [--work-dir work_dirs/bench_train_step] [--json FILE] [--smoke]

Every run is one real ``vnseg train`` (``vnseg.commands.train.main``: mmengine's Runner, the recipe's
data pipeline, loss, AdamW optim wrapper, EMA and class-weights hooks, as ``tools/train.py`` builds it),
pretrained weights off (random init, no download), on synthetic drone scenes that ``vnseg prepare``'s
code writes once into ``WORK/data`` (the demo's generator): ``--warmup + --steps`` iterations of
``--batch`` crops of ``--crop``\\ :sup:`2`, the schedule of a ``--budget-iters`` training (its warm-up and
decay, its EMA window), the same seed for all. A variant is a value of the config's ``cpu_speedups``
(:mod:`vnseg.engine.cpu_speedups`: the very mechanism ``vnseg train`` applies on CPU), all keys set
explicitly, so a default adopted later in the recipe never leaks into another variant:

  eager               today: fp32, NCHW, torch's default threads, the recipe's data-loader workers
  fused_head          SegformerHead built as FusedSegformerHead (fusion conv before the upsampling)
  fused_head_bf16     both that and bf16
  image_cache         CachedLoadImageFromFile: each scene decoded once per worker (512 MiB each)
  fused_head_cache    fused head and image cache; fused_head_cache_bf16: and bf16
  channels_last       ChannelsLastHook (NHWC weights and batch)
  bf16                CpuAmpOptimWrapper: torch.autocast('cpu', bfloat16), fp32 master weights
  channels_last_bf16  both
  compile             mmengine's ``compile=True`` (torch.compile of the whole train_step, inductor;
                      fails with torch 2.13, not in the default list)
  compile_model       vnseg's CompileModelHook: torch.compile of the model's forward + losses only
  threads1            torch.set_num_threads(1)
  interop1            torch.set_num_interop_threads(1)
  workers0/1/2        the train data loader's worker processes (the recipe: 4, persistent)
  KEY=VALUE[,KEY=VALUE]  any other combination, e.g. channels_last=True,num_workers=2

Each (variant, round) is a fresh process (thread settings are per process; peak RSS is the variant's
own), run in alternation: round r runs the variants in rotated order, so that a drifting machine load
spreads over all of them. Reported per variant: steps/s (the median of the rounds' post-warm-up
iterations, mmengine's IterTimerHook times: data loading included), the ratio to ``eager``, the first
step's seconds (torch.compile compiles there), the training process's peak RSS, the loss after all
iterations and the largest relative deviation of its loss curve from eager's. Same seed -> same
curve: a variant with eager's data stream (same worker count: the augmentations' random draws depend
on it) must stay within ``--loss-rtol`` (fp32 variants; threads only reorder sums),
``--bf16-loss-rtol`` (bf16 autocast) or ``--compile-loss-rtol`` (compiled: inductor draws the dropout and
drop-path masks with its own RNG) of eager's curve, else it is marked ``OVER``; other worker counts draw
other augmentations, their losses are shown but not compared. A variant that fails (mmengine's
``compile`` with torch 2.13: TorchDynamo fails in the optimizer step) is reported with its error line;
the others go on.

Before the runs it prints what the CPU offers for bf16 (``lscpu``'s ``avx512_bf16`` / ``amx_bf16``
flags, oneDNN's bf16 support): without them bf16 cannot be fast. Time it alone on an idle machine:
the numbers of a shared CPU are meaningless. ``--smoke`` proves the script in minutes (tiny sizes,
one round, one step; no timing worth reading).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: name -> the cpu_speedups keys it sets (on top of vnseg.engine.cpu_speedups.DEFAULT_CPU_SPEEDUPS)
VARIANTS = {
    'eager': {},
    'fused_head': dict(fused_head=True),
    'fused_head_bf16': dict(fused_head=True, bf16=True),
    'image_cache': dict(image_cache_mb=512),
    'fused_head_cache': dict(fused_head=True, image_cache_mb=512),
    'fused_head_cache_bf16': dict(fused_head=True, image_cache_mb=512, bf16=True),
    'channels_last': dict(channels_last=True),
    'bf16': dict(bf16=True),
    'channels_last_bf16': dict(channels_last=True, bf16=True),
    'compile': dict(compile=True),
    'compile_model': dict(compile='model'),
    'threads1': dict(threads=1),
    'interop1': dict(interop_threads=1),
    'workers0': dict(num_workers=0),
    'workers1': dict(num_workers=1),
    'workers2': dict(num_workers=2),
}
DEFAULT_VARIANTS = [v for v in VARIANTS if v != 'compile']  # mmengine's compile fails with torch 2.13 (above)
SMOKE = dict(batch=2, crop=64, steps=1, warmup=1, rounds=1, scenes=3, scene_size=128, budget_iters=20,
             variants=['eager', 'channels_last', 'bf16', 'threads1', 'workers0'])


class BenchmarkError(Exception):
    """A problem with the benchmark's arguments or one of its runs (one line, exit 1)."""


def parse_variant(token):
    """``(name, cpu_speedups keys)`` of a known name or of ``KEY=VALUE[,KEY=VALUE]``."""
    from vnseg.engine.cpu_speedups import DEFAULT_CPU_SPEEDUPS
    if token in VARIANTS:
        return token, dict(VARIANTS[token])
    if '=' not in token:
        raise BenchmarkError(f'unknown variant {token!r} (known: {", ".join(VARIANTS)}, or KEY=VALUE[,KEY=VALUE])')
    keys = {}
    for item in token.split(','):
        key, _, text = item.partition('=')
        if key not in DEFAULT_CPU_SPEEDUPS:
            raise BenchmarkError(f'variant {token!r}: unknown key {key!r} (known: {", ".join(DEFAULT_CPU_SPEEDUPS)})')
        low = text.lower()
        keys[key] = True if low == 'true' else False if low == 'false' else None if low == 'none' else int(text) \
            if text.isdigit() else text
    return token, keys


def variant_speedups(keys):
    """Every key of the CPU speed-ups, the variant's values over today's defaults."""
    from vnseg.engine.cpu_speedups import DEFAULT_CPU_SPEEDUPS
    return dict(DEFAULT_CPU_SPEEDUPS, **keys)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=osp.join(REPO, 'configs', 'segformer_b0_recipe_vn.py'),
                   help='a recipe config (also configs/pspnet_r18_recipe_vn.py)')
    p.add_argument('--variants', nargs='+', default=None, metavar='NAME',
                   help=f'variants to run, eager first (default: all: {" ".join(DEFAULT_VARIANTS)})')
    p.add_argument('--batch', type=int, default=8,
                   help='crops per step (default: as benchmarks/recipe_quality.py trains)')
    p.add_argument('--crop', type=int, default=256,
                   help='crop side in pixels (default: as benchmarks/recipe_quality.py trains)')
    p.add_argument('--steps', type=int, default=10, help='timed iterations per run')
    p.add_argument('--warmup', type=int, default=3, help='untimed iterations first (compile happens there)')
    p.add_argument('--rounds', type=int, default=2, help='runs per variant, alternated')
    p.add_argument('--budget-iters', type=int, default=750,
                   help="the schedule's length: warm-up and decay as in a training of this many iterations")
    p.add_argument('--scenes', type=int, default=8, help='synthetic scenes prepared once (80 %% train)')
    p.add_argument('--scene-size', type=int, default=768, help='their side in pixels')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--loss-rtol', type=float, default=0.02,
                   help="fp32 variants' largest relative deviation from eager's loss curve")
    p.add_argument('--bf16-loss-rtol', type=float, default=0.05, help='the same for bf16 variants')
    p.add_argument('--compile-loss-rtol', type=float, default=0.05,
                   help="the same for compiled variants (inductor draws dropout masks with its own RNG)")
    p.add_argument('--run-timeout', type=float, default=3600, help='seconds per run before it is stopped')
    p.add_argument('--data-root', default=None,
                   help="a folder `vnseg prepare` wrote (scenes/, class_weights.json) instead of the synthetic scenes")
    p.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'bench_train_step'),
                   help='where the synthetic scenes are prepared (once, then reused)')
    p.add_argument('--json', default=None, help='also write every run and the summary to this file')
    p.add_argument('--smoke', action='store_true',
                   help=f'prove the script quickly: {", ".join(f"{k}={v}" for k, v in SMOKE.items())} '
                        '(explicit options win)')
    p.add_argument('--child', default=None, help=argparse.SUPPRESS)   # internal: one run in this process
    p.add_argument('--result', default=None, help=argparse.SUPPRESS)  # internal: where the child writes
    defaults = {a.dest: a.default for a in p._actions}
    args = p.parse_args(argv)
    if args.smoke:
        given = {k for k in SMOKE if getattr(args, k) != defaults[k]}
        for key, value in SMOKE.items():
            if key not in given:
                setattr(args, key, value)
    if args.variants is None:
        args.variants = list(DEFAULT_VARIANTS)
    for name in ('batch', 'crop', 'steps', 'rounds', 'budget_iters', 'scenes', 'scene_size'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0:
        p.error('--warmup must be >= 0')
    try:
        args.variant_keys = dict(parse_variant(v) for v in args.variants)
    except BenchmarkError as e:
        p.error(str(e))
    if 'eager' not in args.variant_keys:  # the reference of every ratio and loss check
        args.variant_keys = dict(eager={}, **args.variant_keys)
    return args


# -- the machine -----------------------------------------------------------------------------------
def cpu_bf16_report():
    """What this CPU offers for bf16 matmuls: lscpu's flags and oneDNN's view; a one-line verdict."""
    flags = set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    except OSError:
        pass
    wanted = ('avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile', 'avx512_fp16', 'amx_fp16', 'avx_vnni')
    found = {f: f in flags for f in wanted}
    import torch
    try:
        onednn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn_bf16 = None
    if found['amx_bf16']:
        verdict = 'AMX-BF16: bf16 matmuls/convs can be several times faster than fp32'
    elif found['avx512_bf16']:
        verdict = ('AVX512-BF16 without AMX: bf16 dot products at up to ~2x the fp32 FMA rate in theory; the '
                   'casts and the fp32 element-wise ops remain, so expect little, measure')
    else:
        verdict = 'no bf16 instructions: bf16 is emulated and slower than fp32 here'
    return dict(flags=found, onednn_bf16=onednn_bf16, verdict=verdict, cpus=os.cpu_count(),
                torch_threads=torch.get_num_threads(), torch=torch.__version__,
                env={k: os.environ[k] for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS') if k in os.environ})


# -- data --------------------------------------------------------------------------------------------
def prepare_data(work_dir, scenes, scene_size, crop, seed=0):
    """Synthetic scenes prepared as ``vnseg prepare`` does (whole scenes, split lists, class weights,
    summary), written once into ``WORK/data-<scenes>x<size>``; returns the prepared folder."""
    from vnseg.data.prepare import PatchOptions, SplitOptions, prepare_dataset
    from vnseg.testing.synthetic_scenes import generate_scenes
    root = osp.join(work_dir, f'data-{scenes}x{scene_size}-s{seed}')
    out = osp.join(root, 'prepared')
    if osp.isfile(osp.join(out, 'scenes', 'train.txt')) and osp.isfile(osp.join(out, 'class_weights.json')):
        return out
    src = osp.join(root, 'src')
    generate_scenes(src, num_scenes=scenes, size=scene_size, seed=seed)
    val = max(1, scenes // 5) if scenes > 1 else 0
    summary = prepare_dataset(src, out, PatchOptions(patch_size=crop),
                              SplitOptions(ratios=((scenes - val) / scenes, val / scenes, 0.0), seed=seed),
                              progress=False, chart=False)
    if summary['failures']:
        raise BenchmarkError(f"{src}: {len(summary['failures'])} scene(s) failed to prepare")
    return out


# -- one run (a child process) --------------------------------------------------------------------------
def train_argv(config, data_root, work_dir, args, speedups):
    """``vnseg train`` arguments of one run: the recipe at the benchmark's size, budget and variant."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    pipeline = cfg.train_dataloader.dataset.pipeline
    crop_at = [i for i, t in enumerate(pipeline) if 'crop_size' in t]
    iters = args.warmup + args.steps
    budget = max(args.budget_iters, iters)
    opts = [f'train_dataloader.dataset.data_root={data_root}', f'train_dataloader.batch_size={args.batch}',
            f'model.data_preprocessor.size=({args.crop},{args.crop})',
            *(f'train_dataloader.dataset.pipeline.{i}.crop_size=({args.crop},{args.crop})' for i in crop_at),
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters + 1}',
            'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
            f'default_hooks.checkpoint.interval={iters + 1}', 'default_hooks.checkpoint.save_last=False',
            'default_hooks.checkpoint.save_best=None', f'default_hooks.logger.interval={max(1, iters)}',
            f'randomness.seed={args.seed}', 'randomness.deterministic=False']
    # the schedule of a `budget`-iteration training (the recipe's is for max_iters): warm-up, decay, EMA
    ratio = budget / cfg.train_cfg.max_iters
    for i, sched in enumerate(cfg.get('param_scheduler') or []):
        for key in ('begin', 'end'):
            if key in sched:
                bound = int(round(min(sched[key], cfg.train_cfg.max_iters) * ratio))
                opts.append(f'param_scheduler.{i}.{key}={bound}')
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if hook.get('type') == 'EMAHook' and 'momentum' in hook:
            opts.append(f'custom_hooks.{i}.momentum={min(0.5, hook.momentum / ratio)}')
    opts += [f'cpu_speedups.{k}={v}' for k, v in speedups.items()]
    return [config, '--work-dir', work_dir, '--no-pretrained', '--cfg-options', *opts]


def run_child(args):
    """One run in this process (``--child NAME``): train, then write times, losses and RSS to ``--result``."""
    from mmengine.logging import MessageHub

    from vnseg.commands.train import main as train
    from vnseg.testing.memory import peak_rss_mb
    name = args.child
    speedups = variant_speedups(args.variant_keys[name])
    with tempfile.TemporaryDirectory(prefix='train_step_') as work:
        argv = train_argv(args.config, args.data_root, work, args, speedups)
        t0 = time.perf_counter()
        train(argv)
        wall = time.perf_counter() - t0
    hub = MessageHub.get_current_instance()
    times = [float(t) for t in hub.get_scalar('train/time').data[0]]
    data_times = [float(t) for t in hub.get_scalar('train/data_time').data[0]]
    losses = [float(v) for v in hub.get_scalar('train/loss').data[0]]
    import torch
    threads = torch.get_num_threads()
    # the training process's own peak (the workers' RSS would count the pages they share with it)
    result = dict(variant=name, speedups=speedups, times=times, data_times=data_times, losses=losses,
                  wall_s=wall, torch_threads=threads,
                  peak_rss_mib=peak_rss_mb())
    with open(args.result, 'w') as f:
        json.dump(result, f)
    return result


def child_command(args, name, result):
    cmd = [sys.executable, osp.abspath(__file__), '--child', name, '--result', result, '--config', args.config,
           '--data-root', args.data_root]
    for key in ('batch', 'crop', 'steps', 'warmup', 'budget_iters', 'seed'):
        cmd += [f'--{key.replace("_", "-")}', str(getattr(args, key))]
    return cmd + ['--variants', *args.variant_keys]


# -- the comparison --------------------------------------------------------------------------------------
def summarize(runs, args):
    """Per variant: steps/s (median of rounds), ratio to eager, first step, RSS, loss and its check."""
    by = {}
    for run in runs:
        by.setdefault(run['variant'], []).append(run)
    eager = by['eager'][0]
    loader_workers = {name: run.get('loader_workers') for name, rs in by.items() for run in rs[:1]}

    def steps_per_s(run):
        timed = run['times'][args.warmup:args.warmup + args.steps]
        return len(timed) / sum(timed) if timed and sum(timed) > 0 else float('nan')

    rows = []
    base = statistics.median(steps_per_s(r) for r in by['eager'])
    for name, rs in by.items():
        rates = [steps_per_s(r) for r in rs]
        rate = statistics.median(rates)
        curve, ref = rs[0]['losses'], eager['losses']
        dev = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(curve, ref)) if curve and ref else float('nan')
        bf16, compiled = bool(rs[0]['speedups'].get('bf16')), bool(rs[0]['speedups'].get('compile'))
        tol = max(args.loss_rtol, args.bf16_loss_rtol if bf16 else 0, args.compile_loss_rtol if compiled else 0)
        same_data = loader_workers[name] == loader_workers['eager']
        check = ('reference' if name == 'eager' else f"{'ok' if dev <= tol else 'OVER'} (tol {tol:g})" if same_data
                 else 'not compared (other worker count: other augmentation draws)')
        spread = max(max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(r['losses'], curve)) for r in rs)
        rows.append(dict(variant=name, steps_per_s=rate, rounds_steps_per_s=rates, ratio=rate / base,
                         first_step_s=statistics.median(r['times'][0] for r in rs),
                         data_s=statistics.median(statistics.mean(r['data_times'][args.warmup:] or [0]) for r in rs),
                         peak_rss_mib=max(r['peak_rss_mib'] for r in rs),
                         loss_end=curve[-1], loss_max_rel_dev=dev, loss_rtol=tol, loss_check=check,
                         loss_round_spread=spread))
    return rows


def print_table(rows, args, machine):
    print(f'\n{osp.relpath(args.config, REPO)}: batch {args.batch} x {args.crop}^2, {args.warmup} warm-up + '
          f'{args.steps} timed iterations, {args.rounds} round(s) alternated, schedule of a '
          f'{args.budget_iters}-iteration training')
    print(f"cpu: {machine['cpus']} cpu(s), torch {machine['torch']} ({machine['torch_threads']} threads by "
          f"default), bf16 flags {machine['flags']}, oneDNN bf16 {machine['onednn_bf16']}; env {machine['env']}")
    print(f"bf16 on this CPU: {machine['verdict']}")
    head = ('variant', 'steps/s', 'x eager', 'rounds', '1st step s', 'data s', 'peak RSS MiB', 'loss@end',
            'max rel dev', 'check')
    print('\n| ' + ' | '.join(head) + ' |\n|' + '---|' * len(head))
    for r in rows:
        rounds = ' '.join(f'{v:.3f}' for v in r['rounds_steps_per_s'])
        print(f"| {r['variant']} | {r['steps_per_s']:.3f} | {r['ratio']:.2f} | {rounds} | {r['first_step_s']:.1f} | "
              f"{r['data_s']:.2f} | {r['peak_rss_mib']:.0f} | {r['loss_end']:.4f} | {r['loss_max_rel_dev']:.2e} | "
              f"{r['loss_check']} |")
    print('\nsteps/s: median over rounds of (timed iterations / their seconds), data loading included; loss '
          "check: the variant's loss curve against eager's (same seed and data stream); peak RSS: the training "
          'process (its data-loader workers not counted).')


def main(argv=None):
    args = parse_args(argv)
    args.config = osp.abspath(args.config)
    if not osp.isfile(args.config):
        raise BenchmarkError(f'{args.config}: no such config')
    if args.child:
        run_child(args)
        return 0

    machine = cpu_bf16_report()
    print(f"bf16 on this CPU: {machine['verdict']} (flags {machine['flags']})", flush=True)
    os.makedirs(args.work_dir, exist_ok=True)
    t0 = time.perf_counter()
    if args.data_root is None:
        args.data_root = prepare_data(args.work_dir, args.scenes, args.scene_size, args.crop, seed=args.seed)
    elif not osp.isfile(osp.join(args.data_root, 'class_weights.json')):
        raise BenchmarkError(f'{args.data_root}: not a folder vnseg prepare wrote (no class_weights.json)')
    args.data_root = osp.abspath(args.data_root)
    print(f'data: {args.data_root} ({time.perf_counter() - t0:.0f} s)', flush=True)
    from mmengine.config import Config
    recipe_workers = Config.fromfile(args.config).train_dataloader.get('num_workers', 0)
    names = list(args.variant_keys)
    runs, failed = [], {}
    with tempfile.TemporaryDirectory(prefix='train_step_results_') as tmp:
        for rnd in range(args.rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in order:
                if name in failed:
                    continue
                result = osp.join(tmp, f'{name}-{rnd}.json'.replace('/', '_'))
                print(f'round {rnd + 1}/{args.rounds}: {name} ...', flush=True)
                try:
                    proc = subprocess.run(child_command(args, name, result), cwd=REPO, capture_output=True,
                                          text=True, timeout=args.run_timeout)
                except subprocess.TimeoutExpired:
                    proc = None
                if proc is None or proc.returncode != 0 or not osp.isfile(result):
                    log = '' if proc is None else proc.stdout[-2000:] + proc.stderr[-6000:]
                    lines = [ln for ln in log.splitlines() if ln.strip()]
                    errors = [ln for ln in lines if 'Error' in ln and not ln.startswith(' ')] or lines[-1:]
                    failed[name] = (f'timed out after {args.run_timeout:g} s' if proc is None
                                    else f'exit {proc.returncode}: {errors[-1] if errors else "no output"}')
                    print(f'  FAILED ({failed[name]})\n' + '\n'.join(lines[-30:]), flush=True)
                    if name == 'eager':
                        raise BenchmarkError(f'the reference variant eager failed: {failed[name]}')
                    continue
                with open(result) as f:
                    run = json.load(f)
                workers = run['speedups'].get('num_workers')
                run.update(round=rnd, loader_workers=recipe_workers if workers is None else workers)
                print(f"  {len(run['times'])} iterations, {run['wall_s']:.0f} s, loss {run['losses'][-1]:.4f}",
                      flush=True)
                runs.append(run)
    rows = summarize(runs, args)
    print_table(rows, args, machine)
    for name, why in failed.items():
        print(f'FAILED variant {name}: {why}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args={k: v for k, v in vars(args).items() if k not in ('child', 'result')},
                           machine=machine, rows=rows, runs=runs, failed=failed), f, indent=1)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except BenchmarkError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
