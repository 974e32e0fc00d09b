"""Train a segmentor from a config, the MMEngine way.

    python tools/train.py configs/upernet_convnext_t_vn.py [--work-dir DIR] [--resume [CKPT]]
                          [--amp] [--no-pretrained] [--cfg-options k=v ...] [--launcher pytorch]

Outputs (checkpoints, logs, ``vis_data/scalars.json``) go to ``--work-dir``, else the config's
``work_dir``, else ``work_dirs/<config name>``. ``--resume`` with no path continues from the
latest checkpoint in the work dir (the one ``last_checkpoint`` names).
"""
import argparse


def parse_args():
    from vnseg.runner_utils import add_runner_args, parse_runner_args

    parser = argparse.ArgumentParser(description='Train a vnseg / mmseg segmentor')
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
    add_runner_args(parser, 'override config settings, e.g. train_cfg.max_iters=1000')
    return parse_runner_args(parser)


def main():
    args = parse_args()

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from vnseg.compat import adapt_cfg_to_device
    from vnseg.pretrained import disable_pretrained, pretrained_disabled_by_env
    from vnseg.runner_utils import build_runner, load_tool_config, shutdown_distributed

    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
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

    adapt_cfg_to_device(cfg, amp_requested=args.amp)

    runner = build_runner(cfg)
    runner.train()
    shutdown_distributed()


if __name__ == '__main__':
    main()
