"""Evaluate a checkpoint on the config's test split, the MMEngine way.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out-dir PRED_DIR] [--show-dir DIR]
                         [--tta] [--cfg-options k=v ...] [--launcher pytorch]

Prints mmseg's per-class IoU/Acc table and mIoU, mAcc, aAcc, and writes the returned metrics as
JSON to ``<work_dir>/metrics_test.json`` (plus a timestamped copy): aAcc, mIoU, mAcc,
``IoU.<class>``, ``Acc.<class>`` (``null`` for a class absent from the split), the confusion matrix;
and the model card ``<work_dir>/model_card.md`` / ``.json`` (classes, data, config, iterations, metrics).
``--out-dir`` (``--out``, mmseg's name, works too) saves the predicted class-index PNGs;
``--show-dir`` saves image | ground truth | prediction visualisations.

The checkpoint must fit the config's model exactly (a missing, unexpected or mis-shaped key is an
error naming both files). ``--tta`` tests with the config's ``tta_pipeline`` (vnseg's dataset
bases: 3 scales x horizontal flip) through its ``tta_model``. A user's mistake (missing file,
wrong or unsafe checkpoint, unwritable folder) ends in one line ``error: <file>: <problem>``.
"""
import os.path as osp
import time


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser
    from vnseg.commands.runner import add_runner_args, parse_runner_args

    parser = ArgumentParser(description='Test (and evaluate) a vnseg / mmseg segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where metrics and logs go')
    parser.add_argument('--out-dir', '--out', dest='out_dir',
                        help="directory to save predicted class-index PNGs (--out: mmseg's name for it)")
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='directory to save painted predictions')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds between shown images')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (config tta_*)')
    add_runner_args(parser)
    return parse_runner_args(parser, argv)


def enable_visualisation(cfg, args):
    from vnseg.core.errors import OptionError
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise OptionError('--show-dir' if args.show_dir else '--show',
                          f'{args.config} has no "visualization" hook in default_hooks')
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir
        cfg.visualizer['vis_backends'] = [dict(type='LocalVisBackend')]


def enable_tta(cfg, config_path):
    """Test through the config's ``tta_model`` with its ``tta_pipeline``."""
    from vnseg.core.errors import OptionError
    if cfg.get('tta_pipeline') is None:
        raise OptionError('--tta', f'{config_path} defines no tta_pipeline: inherit a vnseg dataset '
                                   'base (configs/_base_/datasets/*.py) or add one')
    tta_model = cfg.get('tta_model') or dict(type='SegTTAModel')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    tta_model['module'] = cfg.model
    cfg.model = tta_model


def main(argv=None):
    args = parse_args(argv)

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from mmengine.dist import is_main_process

    from vnseg.apis.model_loading import load_weights, read_checkpoint
    from vnseg.commands.cli import check_output_dir
    from vnseg.commands.runner import build_runner, load_tool_config, shutdown_distributed
    from vnseg.openmmlab.compat import adapt_cfg_to_device
    from vnseg.openmmlab.pretrained import disable_pretrained
    from vnseg.reports.metrics_file import save_metrics

    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    for option, folder in (('--work-dir', cfg.work_dir), ('--out-dir', args.out_dir),
                           ('--show-dir', args.show_dir)):
        if folder:
            check_output_dir(folder, option)
    checkpoint = read_checkpoint(args.checkpoint)  # an unusable file fails before any set-up
    # The checkpoint holds every weight: never fetch backbone initialisations for testing. It is
    # loaded strictly below, not through load_from (mmengine would only warn about a mismatch).
    disable_pretrained(cfg.model)
    cfg.load_from = None

    if args.show or args.show_dir:
        enable_visualisation(cfg, args)
    if args.tta:
        enable_tta(cfg, args.config)
    if args.out_dir is not None:
        cfg.test_evaluator['output_dir'] = args.out_dir
        cfg.test_evaluator['keep_results'] = True

    adapt_cfg_to_device(cfg)

    runner = build_runner(cfg)
    load_weights(runner.model, checkpoint, config=args.config, checkpoint_name=args.checkpoint)
    metrics = runner.test()

    if is_main_process():
        record = dict(metrics, config=osp.abspath(args.config),
                      checkpoint=osp.abspath(args.checkpoint), tta=bool(args.tta))
        save_metrics(record, osp.join(cfg.work_dir, 'metrics_test.json'))
        stamp = time.strftime('%Y%m%d_%H%M%S')
        save_metrics(record, osp.join(cfg.work_dir, f'metrics_test_{stamp}.json'))
        print(f'metrics written to {osp.join(cfg.work_dir, "metrics_test.json")}')
        from vnseg.deploy.model_card import build_model_card, write_model_card
        card = build_model_card(cfg, args.checkpoint, model=getattr(runner.model, 'module', runner.model),
                                metrics=metrics, config_path=args.config)
        print('model card written to %s, %s' % write_model_card(card, osp.join(cfg.work_dir, 'model_card')))
    shutdown_distributed()

