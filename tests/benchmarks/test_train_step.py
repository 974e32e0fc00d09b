"""benchmarks/train_step.py: its options, the ``vnseg train`` run it builds per variant, its summary, and one
real one-step run in this process. Its timings are for an idle machine, never read here."""
import importlib.util
import json
import math

import pytest

from conftest import REPO

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def bench():
    spec = importlib.util.spec_from_file_location('train_step_bench', REPO / 'benchmarks' / 'train_step.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_are_the_recipe_benchmark_run_and_every_variant():
    b = bench()
    args = b.parse_args([])
    assert (args.batch, args.crop, args.budget_iters) == (8, 256, 750)
    assert list(args.variant_keys) == b.DEFAULT_VARIANTS and args.variant_keys['eager'] == {}
    assert {'channels_last', 'bf16', 'compile_model', 'threads1', 'interop1', 'workers0'} <= set(args.variant_keys)
    assert 'compile' in b.VARIANTS and 'compile' not in args.variant_keys  # mmengine's fails with torch 2.13


def test_smoke_and_explicit_options():
    b = bench()
    args = b.parse_args(['--smoke', '--crop', '96'])
    assert (args.crop, args.batch, args.steps, args.rounds) == (96, 2, 1, 1)  # an explicit option wins
    assert args.variants == b.SMOKE['variants']
    args = b.parse_args(['--variants', 'bf16', 'channels_last=True,num_workers=2,threads=None'])
    assert list(args.variant_keys) == ['eager', 'bf16', 'channels_last=True,num_workers=2,threads=None']
    assert args.variant_keys['channels_last=True,num_workers=2,threads=None'] == dict(
        channels_last=True, num_workers=2, threads=None)
    for bad in (['--variants', 'fp8'], ['--variants', 'channel_last=True'], ['--steps', '0']):
        with pytest.raises(SystemExit) as exc:
            b.parse_args(bad)
        assert exc.value.code == 2


def test_a_run_is_vnseg_train_with_the_variant_and_the_budget(tmp_path):
    b = bench()
    args = b.parse_args(['--variants', 'channels_last_bf16', '--steps', '4', '--warmup', '1'])
    speedups = b.variant_speedups(args.variant_keys['channels_last_bf16'])
    argv = b.train_argv(str(REPO / 'configs' / 'segformer_b0_recipe_vn.py'), '/data', str(tmp_path), args, speedups)
    assert argv[:4] == [str(REPO / 'configs' / 'segformer_b0_recipe_vn.py'), '--work-dir', str(tmp_path),
                        '--no-pretrained']
    opts = argv[argv.index('--cfg-options') + 1:]
    assert 'train_dataloader.dataset.pipeline.3.crop_size=(256,256)' in opts  # the recipe's RandomCrop
    assert 'train_cfg.max_iters=5' in opts and 'val_cfg=None' in opts
    # the first 5 iterations of a 750-iteration training: the recipe's 5 % warm-up, then poly decay
    assert {'param_scheduler.0.end=38', 'param_scheduler.1.begin=38', 'param_scheduler.1.end=750'} <= set(opts)
    assert [o for o in opts if o.startswith('cpu_speedups.')] == [
        'cpu_speedups.fused_head=False', 'cpu_speedups.channels_last=True', 'cpu_speedups.bf16=True',
        'cpu_speedups.compile=False',
        'cpu_speedups.threads=None', 'cpu_speedups.interop_threads=None', 'cpu_speedups.num_workers=None',
        'cpu_speedups.image_cache_mb=None']
    from vnseg.commands.train import parse_args
    parsed = parse_args(argv)  # the train command accepts them
    assert parsed.cfg_options['cpu_speedups.bf16'] is True and parsed.cfg_options['cpu_speedups.threads'] is None


def _run(name, rate, losses, workers=4, bf16=False):
    return dict(variant=name, times=[9.0] + [1 / rate] * 4, data_times=[0.1] * 5, losses=losses,
                peak_rss_mib=1000.0, speedups=dict(bf16=bf16), loader_workers=workers)


def test_summary_ratios_and_loss_checks():
    b = bench()
    args = b.parse_args(['--steps', '4', '--warmup', '1', '--variants', 'eager', 'bf16', 'channels_last', 'workers0'])
    ref = [2.0, 1.9, 1.8, 1.7, 1.6]
    runs = [_run('eager', 1.0, ref), _run('eager', 1.2, ref),
            _run('bf16', 1.5, [v * 1.03 for v in ref], bf16=True),
            _run('channels_last', 2.2, [v * 1.03 for v in ref]),
            _run('workers0', 1.1, [v * 1.5 for v in ref], workers=0)]
    rows = {r['variant']: r for r in b.summarize(runs, args)}
    assert rows['eager']['steps_per_s'] == pytest.approx(1.1) and rows['eager']['loss_check'] == 'reference'
    assert rows['channels_last']['ratio'] == pytest.approx(2.0)
    assert rows['bf16']['loss_check'] == 'ok (tol 0.05)'  # 3 % within bf16's tolerance
    assert rows['channels_last']['loss_check'] == 'OVER (tol 0.02)'  # 3 % is over fp32's
    assert rows['workers0']['loss_check'].startswith('not compared')
    assert rows['eager']['first_step_s'] == 9.0 and rows['bf16']['loss_max_rel_dev'] == pytest.approx(0.03)


def test_cpu_report_names_the_bf16_flags():
    report = bench().cpu_bf16_report()
    assert set(report['flags']) >= {'avx512_bf16', 'amx_bf16'} and report['verdict']


def test_one_real_step(tmp_path, monkeypatch):
    """One iteration of the recipe's SegFormer-B0 through vnseg train, bf16 + channels_last, no workers."""
    b = bench()
    data = b.prepare_data(str(tmp_path), scenes=3, scene_size=96, crop=48)
    result = tmp_path / 'run.json'
    args = b.parse_args(['--child', 'channels_last=True,bf16=True,num_workers=0', '--result', str(result),
                         '--data-root', data, '--variants', 'channels_last=True,bf16=True,num_workers=0',
                         '--batch', '2', '--crop', '48', '--steps', '1', '--warmup', '0', '--budget-iters', '20'])
    args.config = str(REPO / 'configs' / 'segformer_b0_recipe_vn.py')
    import vnseg.engine.cpu_speedups as speedups
    applied, apply = [], speedups.apply_cpu_speedups
    monkeypatch.setattr(speedups, 'apply_cpu_speedups', lambda cfg, **kw: applied.extend(apply(cfg, **kw)) or applied)
    b.run_child(args)
    run = json.loads(result.read_text())
    assert len(run['times']) == 1 and len(run['losses']) == 1 and math.isfinite(run['losses'][0])
    assert run['speedups']['bf16'] is True and run['speedups']['num_workers'] == 0 and run['peak_rss_mib'] > 0
    # vnseg train applied the variant through its cpu_speedups call
    assert [c.split(' (')[0] for c in applied] == ['channels_last', 'bf16 autocast, float32 master weights',
                                                   'train data loader: 0 worker(s)']
