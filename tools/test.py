"""Evaluate a checkpoint on the config's test split, the MMEngine way.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PRED_DIR] [--show-dir DIR]
                         [--tta] [--cfg-options k=v ...] [--launcher pytorch]

Prints mmseg's per-class IoU/Acc table and mIoU, mAcc, aAcc, and writes the returned metrics as
JSON to ``<work_dir>/metrics_test.json`` (plus a timestamped copy): aAcc, mIoU, mAcc,
``IoU.<class>``, ``Acc.<class>`` (``null`` for a class absent from the split), the confusion matrix;
and the model card ``<work_dir>/model_card.md`` / ``.json`` (classes, data, config, iterations, metrics).
``--out`` saves the predicted class-index PNGs; ``--show-dir`` saves image | ground truth | prediction visualisations.
"""
import argparse
import os.path as osp
import time


def parse_args():
    from vnseg.runner_utils import add_runner_args, parse_runner_args

    parser = argparse.ArgumentParser(description='Test (and evaluate) a vnseg / mmseg segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where metrics and logs go')
    parser.add_argument('--out', help='directory to save predicted class-index PNGs')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='directory to save painted predictions')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds between shown images')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (config tta_*)')
    add_runner_args(parser)
    return parse_runner_args(parser)


def enable_visualisation(cfg, args):
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError('--show/--show-dir need a "visualization" hook in default_hooks')
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir
        cfg.visualizer['vis_backends'] = [dict(type='LocalVisBackend')]


def main():
    args = parse_args()

    import vnseg  # noqa: F401  (compat fixes + registration)
    from mmengine.dist import is_main_process

    from vnseg.compat import adapt_cfg_to_device
    from vnseg.evaluation.metrics_file import save_metrics
    from vnseg.pretrained import disable_pretrained
    from vnseg.runner_utils import build_runner, load_tool_config, shutdown_distributed

    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    # The checkpoint holds every weight: never fetch backbone initialisations for testing.
    disable_pretrained(cfg.model)
    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        enable_visualisation(cfg, args)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True

    adapt_cfg_to_device(cfg)

    runner = build_runner(cfg)
    metrics = runner.test()

    if is_main_process():
        record = dict(metrics, config=osp.abspath(args.config),
                      checkpoint=osp.abspath(args.checkpoint))
        save_metrics(record, osp.join(cfg.work_dir, 'metrics_test.json'))
        stamp = time.strftime('%Y%m%d_%H%M%S')
        save_metrics(record, osp.join(cfg.work_dir, f'metrics_test_{stamp}.json'))
        print(f'metrics written to {osp.join(cfg.work_dir, "metrics_test.json")}')
        from vnseg.deploy.model_card import build_model_card, write_model_card
        card = build_model_card(cfg, args.checkpoint, model=getattr(runner.model, 'module', runner.model),
                                metrics=metrics, config_path=args.config)
        print('model card written to %s, %s' % write_model_card(card, osp.join(cfg.work_dir, 'model_card')))
    shutdown_distributed()


if __name__ == '__main__':
    main()
