"""What ``vnseg train`` and ``vnseg test`` share: their runner flags, config loading, runner building, shutdown."""
import os
import os.path as osp


def add_runner_args(parser, cfg_options_help='override config settings'):
    """The arguments every MMEngine tool shares: ``--cfg-options``, ``--launcher``, ``--local-rank``."""
    from mmengine.config import DictAction

    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=cfg_options_help)
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='process rank on this node, passed by torch.distributed.launch (torchrun sets LOCAL_RANK)')


def parse_runner_args(parser, argv=None):
    """``parser.parse_args(argv)``, exporting ``LOCAL_RANK`` when a launcher passed it as an argument."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_tool_config(config_path, launcher='none', cfg_options=None, work_dir=None):
    """Load a config the way the tools do and return it.

    ``--cfg-options`` are merged; the work dir is ``work_dir``, else the config's ``work_dir``,
    else ``./work_dirs/<config file name without .py>``. A missing or broken config is a
    :class:`vnseg.openmmlab.checkpoints.ConfigError` naming the file.
    """
    from vnseg.openmmlab.checkpoints import load_config

    cfg = load_config(config_path, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])
    return cfg


def use_atomic_checkpoints(cfg):
    """Make the config's checkpoint hook vnseg's ``AtomicCheckpointHook`` when it is mmengine's
    plain ``CheckpointHook`` (same arguments): a kill mid-save then never breaks ``--resume``.
    Returns True when the hook was replaced."""
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if hook is not None and hook.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
        hook['type'] = 'AtomicCheckpointHook'
        return True
    return False


def record_training_gsd(cfg, gsd_cm=None):
    """Add vnseg's ``GsdMetaHook`` to the config's ``custom_hooks`` (once): every checkpoint then
    records the training data's ground resolution, ``meta['gsd_cm']`` (cm/px, from the prepared
    data's ``summary.json``; :mod:`vnseg.data.gsd`). A hook the config already has is kept (with
    ``gsd_cm`` given, its value is set). Returns the hook's config dict."""
    hooks = list(cfg.get('custom_hooks') or [])
    hook = next((h for h in hooks if h.get('type') in ('GsdMetaHook', 'mmseg.GsdMetaHook')), None)
    if hook is None:
        hook = dict(type='GsdMetaHook')
        hooks.append(hook)
    if gsd_cm is not None:
        hook['gsd_cm'] = float(gsd_cm)
    cfg.custom_hooks = hooks
    return hook


def train_on_all_scenes(cfg):
    """Train on every labelled scene: the train and val splits of the config's data, one dataset.

    For the last training of a user once a recipe is chosen on validation: the same budget (iterations,
    batch) and pipeline, the val split's scenes added to the train split (mmengine's ``ConcatDataset`` of
    the train dataset and a copy of it pointing at the val split's ``data_root``, ``data_prefix`` and
    ``ann_file``). Validation during training still runs on the val split, which the model now sees:
    its scores are no longer a held-out measure. Returns the new train dataset config.
    """
    import copy

    def innermost(dataset):  # through RepeatDataset and the like, to the dataset that reads files
        while 'dataset' in dataset and 'data_prefix' not in dataset:
            dataset = dataset['dataset']
        return dataset

    train = cfg.train_dataloader.dataset
    val = (cfg.get('val_dataloader') or {}).get('dataset')
    if not val:
        raise ValueError('--all-scenes: the config has no val_dataloader.dataset to add to the train split')
    extra = copy.deepcopy(train)
    source, target = innermost(val), innermost(extra)
    for key in ('data_root', 'data_prefix', 'ann_file'):
        if key in source:
            target[key] = copy.deepcopy(source[key])
    cfg.train_dataloader.dataset = dict(type='ConcatDataset', datasets=[train, extra])
    return cfg.train_dataloader.dataset


def build_runner(cfg):
    """mmengine's Runner, or the registered runner the config names in ``runner_type``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def shutdown_distributed():
    """Leave the process group together at the end of a distributed run (no-op otherwise).

    mmengine never destroys the group; a rank that exits first can then abort its peers' gloo /
    NCCL threads ("terminate called without an active exception").
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
