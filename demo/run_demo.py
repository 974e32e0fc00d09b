"""The main job end to end on generated drone-like scenes, on CPU, in a few minutes (`make demo`).

    python demo/run_demo.py [--work-dir work_dirs/demo] [--scenes 10] [--scene-size 512] [--iters 600]

1. generate scenes (RGB + AnyLabeling JSON polygons) -> ``scenes/`` (+ one unseen ``holdout/`` scene)
2. prepare: JSON -> masks -> 128 px patches -> drop all-background -> split 8/1/1 by scene ->
   offline augmentation of train -> ``dataset/``
3. train a tiny SegFormer with ``tools/train.py`` -> ``train/``
4. test it with ``tools/test.py`` (mIoU, per class) -> ``test/metrics_test.json``, ``test/preds/``
5. infer the whole holdout scene by streamed tiles -> ``inference/`` (class map, preview, polygons, areas)
6. figures and the comparison table -> ``figures/``, ``comparison.md``
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from vnseg.testing.synthetic_scenes import generate_scenes

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs' / 'segformer_tiny_demo_vn.py'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo', help='where everything goes')
    parser.add_argument('--scenes', type=int, default=20, help='generated scenes in the dataset')
    parser.add_argument('--scene-size', type=int, default=512, help='scene side, pixels')
    parser.add_argument('--holdout-size', type=int, default=1024, help='side of the unseen scene')
    parser.add_argument('--patch-size', type=int, default=128, help='patch side, pixels')
    parser.add_argument('--iters', type=int, default=600, help='training iterations')
    parser.add_argument('--seed', type=int, default=0, help='seed of the scenes, split and training')
    return parser.parse_args()


class Stages:
    """Prints each stage and keeps its wall time."""

    def __init__(self):
        self.times = {}

    def run(self, name, fn, *args, **kwargs):
        print(f'\n=== {name} ===', flush=True)
        t0 = time.time()
        result = fn(*args, **kwargs)
        self.times[name] = time.time() - t0
        print(f'--- {name}: {self.times[name]:.1f} s', flush=True)
        return result


def run_tool(args):
    """Run a repo tool with this interpreter; stop the demo if it fails."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    subprocess.run([sys.executable, *map(str, args)], check=True, cwd=REPO, env=env)


def data_options(dataset):
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.append(f'{loader}.dataset.data_root={dataset}')
    return opts


def main():
    args = parse_args()
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    stages = Stages()

    from vnseg.data.prepare import PatchOptions, SplitOptions, prepare_dataset

    scenes, holdout, dataset = work / 'scenes', work / 'holdout', work / 'dataset'
    stages.run('1. generate scenes', generate_scenes, scenes, num_scenes=args.scenes,
               size=args.scene_size, seed=args.seed)
    holdout_json = stages.run('1b. generate an unseen scene', generate_scenes, holdout, num_scenes=1,
                              size=args.holdout_size, seed=args.seed + 1000, prefix='holdout',
                              write_masks=True)[0]
    summary = stages.run('2. prepare dataset', prepare_dataset, scenes, dataset,
                         PatchOptions(patch_size=args.patch_size, num_augment=1),
                         SplitOptions(split_mode='scene', seed=args.seed))
    if summary.get('failures'):
        raise SystemExit(f'prepare_dataset reported failures: {summary["failures"]}')

    train_dir, test_dir = work / 'train', work / 'test'
    interval = max(args.iters // 3, 1)
    stages.run('3. train (tools/train.py)', run_tool, [
        'tools/train.py', CONFIG, '--work-dir', train_dir, '--cfg-options', *data_options(dataset),
        f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={interval}',
        f'default_hooks.checkpoint.interval={interval}', f'param_scheduler.0.end={args.iters}',
        f'randomness.seed={args.seed}'])
    checkpoint = Path((train_dir / 'last_checkpoint').read_text().strip())

    stages.run('4. test (tools/test.py)', run_tool, [
        'tools/test.py', CONFIG, checkpoint, '--work-dir', test_dir, '--out-dir', test_dir / 'preds',
        '--cfg-options', *data_options(dataset)])
    metrics = json.loads((test_dir / 'metrics_test.json').read_text())

    from vnseg.apis import WindowOptions, infer_large_image
    holdout_image = holdout_json.with_suffix('.png')
    result = stages.run('5. whole-scene inference', infer_large_image, str(CONFIG), str(checkpoint),
                        holdout_image, work / 'inference', WindowOptions(tile=256), device='cpu')

    figures = work / 'figures'
    report = stages.run('6. figures and comparison table', make_figures, figures, train_dir,
                        test_dir, dataset, checkpoint)
    (work / 'comparison.md').write_text(report + '\n')

    print('\n=== vnseg demo summary ===')
    splits = summary['splits']
    print('dataset patches: ' + ', '.join(
        f'{name} {info["patches"]} ({info["scenes"]} scenes, {info["augmented"]} augmented)'
        for name, info in splits.items()))
    print(f'test mIoU {metrics["mIoU"]:.2f}  mAcc {metrics["mAcc"]:.2f}  aAcc {metrics["aAcc"]:.2f}')
    per_class = {k[4:]: round(v, 2) for k, v in metrics.items() if k.startswith('IoU.')}
    if per_class:
        print(f'per-class IoU: {per_class}')
    print(f'holdout scene ({args.holdout_size}x{args.holdout_size}): class map {result.class_map}, '
          f'preview {result.preview}, {result.tiles_run} tiles in {result.seconds:.1f} s')
    shares = {c['class']: c['share_valid_pct'] for c in result.areas['classes']}
    print(f'holdout predicted class shares (%): {shares}')
    print('\n' + report)
    print('\nstage times (s): ' + ', '.join(f'{k.split(".")[0]}: {v:.0f}' for k, v in stages.times.items()))
    print(f'total: {sum(stages.times.values()):.0f} s; outputs in {work}')


def make_figures(figures, train_dir, test_dir, dataset, checkpoint):
    """Confusion matrix, per-class IoU bars, training curves, prediction grid; return the table."""
    from vnseg.reports import comparison, plots
    from vnseg.reports import figures as fig
    from vnseg.reports.logs import load_history  # noqa: F401  (fails early if logs unreadable)
    from vnseg.reports.metrics_file import load_metrics

    figures.mkdir(parents=True, exist_ok=True)
    metrics = load_metrics(test_dir / 'metrics_test.json')
    fig.confusion_matrix_figure(figures, fig.ConfusionSource(pred_dir=test_dir / 'preds',
                                                          ann_dir=dataset / 'ann_dir' / 'test'))
    plots.render_iou_bar(metrics, figures / 'per_class_iou.png', title='tiny SegFormer, test split')
    plots.render_training_curves([train_dir], figures / 'training_curves.png')
    fig.prediction_grid_figure(figures / 'prediction_grid.png',
                               pred_dirs=[('tiny SegFormer', test_dir / 'preds')],
                               grid=fig.GridOptions(img_dir=dataset / 'img_dir' / 'test',
                                                    ann_dir=dataset / 'ann_dir' / 'test', num=4))
    return comparison.comparison_table([test_dir], names=['tiny SegFormer (demo)'])


if __name__ == '__main__':
    from vnseg.commands.cli import quiet_third_party_warnings
    quiet_third_party_warnings()  # the libraries' notices are not for users (VNSEG_SHOW_WARNINGS=1 shows them)
    main()
