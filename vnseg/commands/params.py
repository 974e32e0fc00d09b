"""The study's parameter table for vnseg configs: our parameter count and GFLOPs beside the study's.

Usage (from the repository root)::

    python tools/analysis_tools/param_table.py                  # every study config
    python tools/analysis_tools/param_table.py configs/fpn_r50_vn.py configs/unet_r50_vn.py
    python tools/analysis_tools/param_table.py --no-flops --out param_table.md

Models are built on CPU from random initialisation (pretrained weights are never downloaded) with
SyncBN reverted to BN. Params = every parameter of the segmentor, in millions (auxiliary heads
included where a config has one; the study's models have none). GFLOPs = mmengine's count
(``mmengine.analysis``, fvcore convention: one multiply-add = 1 FLOP) of one forward pass in
``'tensor'`` mode (backbone + decode head, no post-processing) on a 1x3xHxW input, 512x512 by
default.
"""
import os.path as osp
import sys

STUDY = {
    # config stem: (model, study params in millions, study test mIoU on the VN drone set)
    'pspnet_r18_vn': ('PSPNet-R18', 2.1, 77.98),
    'segformer_b0_vn': ('SegFormer-B0', 3.7, 79.73),
    'segformer_b3_vn': ('SegFormer-B3', 47.2, 80.25),
    'segformer_b5_vn': ('SegFormer-B5', 84.6, 80.22),
    'fpn_r50_vn': ('FPN-R50', 26.9, 81.60),
    'unet_r50_vn': ('UNet-R50', 32.5, 80.66),
    'upernet_convnext_b_vn': ('UperNet ConvNeXt-Base', 101.9, 81.23),
    'upernet_convnext_t_vn': ('UperNet ConvNeXt-Tiny', 37.0, 81.91),
    'upernet_convnext_t_oem_pretrain': ('UperNet ConvNeXt-Tiny, OEM pretraining', 37.0, None),
    'upernet_convnext_t_oem_ft_vn': ('UperNet ConvNeXt-Tiny, OEM-pretrained', 37.0, 82.49),
    'segformer_b0_oem_pretrain': ('SegFormer-B0, OEM pretraining', 3.7, None),
    'segformer_b0_oem_ft_vn': ('SegFormer-B0, OEM-pretrained', 3.7, 80.65),
}

#: Relative tolerance between our parameter counts and the study's.
TOLERANCE = 0.10

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def study_configs(config_dir=None):
    """Paths of every config of :data:`STUDY`, in table order."""
    config_dir = config_dir or osp.join(REPO, 'configs')
    return [osp.join(config_dir, stem + '.py') for stem in STUDY]


def build_model(cfg):
    """Build ``cfg.model`` (a ``Config``) for counting: no pretrained weights, BN, eval mode.

    ``cfg.model`` is modified in place (pretrained references removed).
    """
    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from vnseg.openmmlab.pretrained import disable_pretrained

    init_default_scope(cfg.get('default_scope', 'mmseg'))
    disable_pretrained(cfg.model)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    return model.eval()


def count_params(model):
    """Number of parameters of ``model`` (int; trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model, shape=(512, 512)):
    """FLOPs (int, multiply-adds) of one ``'tensor'``-mode forward on a ``1x3xHxW`` input."""
    import torch
    from mmengine.analysis import FlopAnalyzer

    inputs = torch.zeros(1, 3, *shape)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (inputs,))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return int(analyzer.total())


def measure(config, shape=(512, 512), flops=True):
    """One table row (dict) for ``config`` (a path): our numbers and the study's."""
    from mmengine.config import Config

    stem = osp.splitext(osp.basename(config))[0]
    model = build_model(Config.fromfile(config))
    name, study_params, study_miou = STUDY.get(stem, (stem, None, None))
    params = count_params(model) / 1e6
    row = dict(config=osp.relpath(config, REPO) if osp.isabs(config) else config,
               stem=stem, model=name, study_params=study_params, params=params,
               rel_diff=None if study_params is None else params / study_params - 1,
               gflops=count_flops(model, shape) / 1e9 if flops else None,
               study_miou=study_miou)
    del model
    return row


def to_markdown(rows, shape=(512, 512)):
    """The rows as a markdown table (str)."""
    show_flops = any(r['gflops'] is not None for r in rows)

    def fmt(value, spec, none='–'):
        return none if value is None else format(value, spec)

    header = ['config', 'model', 'study params (M)', 'our params (M)', 'diff']
    if show_flops:
        header.append(f'GFLOPs @{shape[0]}x{shape[1]}')
    header.append('study test mIoU')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in rows:
        cells = [f"`{r['config']}`", r['model'], fmt(r['study_params'], '.1f'),
                 fmt(r['params'], '.2f'), fmt(r['rel_diff'], '+.1%')]
        if show_flops:
            cells.append(fmt(r['gflops'], '.1f'))
        cells.append(fmt(r['study_miou'], '.2f'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    from vnseg.commands.cli import ArgumentParser
    parser = ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='*', help='config files (default: every study config)')
    parser.add_argument('--shape', type=int, nargs='+', default=[512, 512],
                        help='input H W (or one size) for GFLOPs, default 512 512')
    parser.add_argument('--no-flops', action='store_true', help='skip the GFLOPs column (faster)')
    parser.add_argument('--out', help='also write the markdown table to this file')
    parser.add_argument('--check', action='store_true',
                        help=f'exit 1 if a count is off the study by more than {TOLERANCE * 100:.0f} %%')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    shape = tuple(args.shape * 2 if len(args.shape) == 1 else args.shape[:2])
    rows = [measure(c, shape, flops=not args.no_flops) for c in (args.configs or study_configs())]
    table = to_markdown(rows, shape)
    print(table, end='')
    if args.out:
        from vnseg.core.atomic import atomic_write_text
        atomic_write_text(args.out, table)
    off = [r['stem'] for r in rows if r['rel_diff'] is not None and abs(r['rel_diff']) > TOLERANCE]
    if off:
        print(f'off the study by more than {TOLERANCE:.0%}: {", ".join(off)}', file=sys.stderr)
        if args.check:
            return 1
    return 0

