"""The ``vnseg`` command: one subcommand per job, each the same code as its ``tools/`` script.

Layer 6, the top of the product (the layers: :mod:`vnseg`): the one package that turns errors into flags and
exit codes.

    vnseg --help                      the subcommands
    vnseg map model.onnx mosaic.tif out/      whole-scene inference (light install: no torch)
    vnseg train configs/segformer_b0_recipe_vn.py --work-dir work_dirs/b0

Each subcommand is one module of this package with ``main(argv)``; ``tools/<name>.py`` are thin
callers of the same ``main`` (mmseg's ``python tools/train.py ...`` convention). A subcommand's module
is imported only when it runs, so ``vnseg --help`` and ``vnseg map`` with an ONNX model never import
torch or OpenMMLab. Exit status: 0 done, 1 a user's mistake (one ``error:`` line), 2 a usage error.
"""
from __future__ import annotations

import importlib
import sys
from typing import Optional, Sequence

__all__ = ['COMMANDS', 'main']

#: subcommand -> (module of this package, the ``tools/`` script it also backs, one-line summary)
COMMANDS = {
    'prepare': ('prepare', 'tools/prepare_dataset.py', 'scenes (AnyLabeling JSON or image + mask) -> dataset'),
    'masks': ('masks', 'tools/json_to_mask.py', 'labelme / AnyLabeling JSON -> class-mask PNGs + QA report'),
    'train': ('train', 'tools/train.py', 'train a segmentor from a config (MMEngine Runner)'),
    'test': ('test', 'tools/test.py', "evaluate a checkpoint on the config's test split"),
    'map': ('map', 'tools/infer_large_image.py', 'whole orthomosaics -> class map, polygons, areas, report'),
    'export': ('export', 'tools/deployment/export_onnx.py', 'a trained model -> ONNX (Deepness metadata)'),
    'prelabel': ('prelabel', 'tools/predict_to_labelme.py', 'pre-labels for AnyLabeling from a model'),
    'compare': ('compare', 'tools/compare_flights.py', 'change between two flights (class maps)'),
    'sample': ('sample', 'tools/sample_points.py', 'stratified random sample of a class map -> QGIS review form'),
    'accuracy': ('accuracy', 'tools/area_accuracy.py', 'reviewed sample -> class areas with 95 % intervals, accuracy'),
    'report': ('report', 'tools/analysis_tools/compare_runs.py', 'comparison table of training runs'),
    'curves': ('curves', 'tools/analysis_tools/training_curves.py', 'loss and mIoU curves of runs'),
    'confusion': ('confusion', 'tools/analysis_tools/confusion_matrix.py', 'confusion matrix PNG + CSV'),
    'iou-bar': ('iou_bar', 'tools/analysis_tools/iou_bar.py', 'per-class IoU bar chart of runs'),
    'grid': ('grid', 'tools/analysis_tools/prediction_grid.py', 'image | truth | models grid PNG'),
    'params': ('params', 'tools/analysis_tools/param_table.py', "parameters and GFLOPs beside the study's"),
    'strip-teacher': ('strip_teacher', 'tools/model_converters/strip_teacher.py',
                      'student-only checkpoint of a distillation run'),
    'teacher-labels': ('teacher_labels', 'tools/teacher_labels.py',
                       "a teacher's soft labels of a dataset's train scenes + unlabelled images (cache)"),
}


def _usage() -> str:
    from vnseg.core.version import __version__
    width = max(len(name) for name in COMMANDS)  # (not map(): the submodule vnseg.commands.map shadows it here)
    lines = [f'usage: vnseg COMMAND [options]   (vnseg {__version__}; vnseg COMMAND --help for its options)',
             '', 'commands:']
    lines += [f'  {name:<{width}}  {summary}' for name, (_, _, summary) in COMMANDS.items()]
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``vnseg COMMAND ...``; returns the exit status (the console entry point exits with it)."""
    from vnseg.commands.cli import EXIT_USAGE, quiet_third_party_warnings, run_tool
    if argv is None:  # the command line (console script, python -m vnseg): libraries' deprecations hidden
        quiet_third_party_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help', 'help'):
        sys.stdout.write(_usage())
        return 0 if argv else EXIT_USAGE
    if argv[0] == '--version':
        from vnseg.core.version import __version__
        print(f'vnseg {__version__}')
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f'error: {name}: not a vnseg command (see vnseg --help)\n')
        return EXIT_USAGE
    module = importlib.import_module(f'{__name__}.{COMMANDS[name][0]}')
    prog, sys.argv[0] = sys.argv[0], f'vnseg {name}'  # argparse's usage line names the subcommand
    try:
        return run_tool(module.main, rest)
    finally:
        sys.argv[0] = prog
