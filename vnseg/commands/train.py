"""Train a segmentor from a config, the MMEngine way.

    python tools/train.py configs/upernet_convnext_t_vn.py [--work-dir DIR] [--resume [CKPT]]
                          [--amp] [--no-pretrained] [--all-scenes] [--cfg-options k=v ...] [--launcher pytorch]

``--all-scenes`` trains on the train and val splits together (every labelled scene) at the config's
budget: a user's last training, once the recipe was chosen on validation.

Outputs (checkpoints, logs, ``vis_data/scalars.json``) go to ``--work-dir``, else the config's
``work_dir``, else ``work_dirs/<config name>``. ``--resume`` with no path continues from the
latest checkpoint in the work dir (the one ``last_checkpoint`` names).

Checkpoints are written atomically (``AtomicCheckpointHook``): a run killed at any moment keeps its
previous checkpoint loadable and ``--resume`` working. A user's mistake (missing config, a
``--resume`` file that is not a checkpoint of this model, an unwritable work dir, a full disk)
ends in one line ``error: <file>: <problem>``.
"""


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser
    from vnseg.commands.runner import add_runner_args, parse_runner_args

    parser = ArgumentParser(description='Train a vnseg / mmseg segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None, metavar='CKPT',
        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT is given')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision (CUDA only)')
    parser.add_argument(
        '--no-pretrained', action='store_true',
        help='do not load/download pretrained backbone weights (same as VNSEG_NO_PRETRAINED=1)')
    parser.add_argument(
        '--all-scenes', action='store_true',
        help="train on the train AND val splits (every labelled scene), the config's budget: the last "
             'training once a recipe is chosen on validation (validation scores then see trained scenes)')
    parser.add_argument(
        '--no-cpu-speedups', action='store_true',
        help="without CUDA, none of vnseg's CPU speed-ups of training (the config's cpu_speedups: "
             'fused_head, image_cache_mb, channels_last, bf16, compile, threads, workers; '
             'vnseg.engine.cpu_speedups); no effect on a GPU')
    add_runner_args(parser, 'override config settings, e.g. train_cfg.max_iters=1000')
    return parse_runner_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from vnseg.apis.model_loading import load_weights, read_checkpoint
    from vnseg.commands.cli import check_output_dir
    from vnseg.core.errors import OptionError
    from vnseg.data.class_weights import training_class_weights
    from vnseg.engine.cpu_speedups import apply_cpu_speedups
    from vnseg.openmmlab.compat import AmpNeedsCudaError, adapt_cfg_to_device
    from vnseg.openmmlab.pretrained import disable_pretrained, pretrained_disabled_by_env
    from vnseg.commands.runner import (build_runner, load_tool_config, record_training_gsd, shutdown_distributed,
                                    train_on_all_scenes, use_atomic_checkpoints)

    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    check_output_dir(cfg.work_dir, '--work-dir')
    if args.all_scenes:
        try:
            train_on_all_scenes(cfg)
        except ValueError as exc:
            raise OptionError('--all-scenes', str(exc).split(': ', 1)[-1]) from None
    # the recipe's CE class weights (OUT/class_weights.json of the prepared data): ClassWeightsHook
    # reads them when training starts; a missing or bad file fails here, before anything is written
    training_class_weights(cfg, config_name=args.config)
    use_atomic_checkpoints(cfg)
    record_training_gsd(cfg)  # checkpoints carry meta['gsd_cm'], the training data's ground resolution
    resume_from = None
    if args.resume not in (None, 'auto'):
        resume_from = read_checkpoint(args.resume)  # an unusable file fails before any set-up
    if args.no_pretrained or pretrained_disabled_by_env():
        disable_pretrained(cfg.model)

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    try:
        adapt_cfg_to_device(cfg, amp_requested=args.amp)
    except AmpNeedsCudaError as exc:
        raise OptionError('--amp', str(exc).replace('--amp ', '', 1)) from None
    apply_cpu_speedups(cfg, enabled=not args.no_cpu_speedups)  # CPU only; changes nothing with CUDA

    runner = build_runner(cfg)
    if resume_from is not None:
        # mmengine resumes non-strictly: a checkpoint of another model would leave random weights
        load_weights(runner.model, resume_from, config=args.config, checkpoint_name=args.resume)
    runner.train()
    shutdown_distributed()

