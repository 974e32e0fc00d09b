"""Comparison table, training-curve logs and the metrics-only figures, on fake work dirs."""
import csv
import importlib.util
import json
import math

import numpy as np
import pytest
from PIL import Image

from vnseg.core.classes import CLASSES
from vnseg.reports import comparison, logs, metrics_file, plots

from conftest import REPO


def _command(name):
    """The module ``vnseg.commands.<name>`` (the code of ``vnseg <name>`` and of its ``tools/`` script)."""
    return importlib.import_module(f'vnseg.commands.{name}')


def _metrics(iou, miou, **extra):
    m = {'aAcc': 90.0, 'mIoU': miou, 'mAcc': 80.0}
    m.update({f'IoU.{c}': v for c, v in zip(CLASSES, iou)})
    m.update({f'Acc.{c}': v for c, v in zip(CLASSES, iou)})
    m.update(extra)
    return m


def _png(path):
    with Image.open(path) as img:
        arr = np.array(img.convert('RGB'))
    return arr


# ---- a tiny model type whose parameter count is known by hand -------------------------------
def _register_test_models():
    import torch.nn as nn
    from mmengine.model import BaseModel
    from mmseg.registry import MODELS

    class EvalTestNet(BaseModel):
        def __init__(self, width=4):
            super().__init__()
            self.fc = nn.Linear(3, width)          # 3*width + width params

        def forward(self, *args, **kwargs):
            raise NotImplementedError

    class EvalTestDistillNet(BaseModel):
        def __init__(self):
            super().__init__()
            self.student = nn.Linear(3, 4)         # 16 params: the deployed model
            self.teacher = nn.Linear(10, 10)       # 110 params: not counted

        def forward(self, *args, **kwargs):
            raise NotImplementedError

    MODELS.register_module('EvalTestNet', module=EvalTestNet, force=True)
    MODELS.register_module('EvalTestDistillSegmentor', module=EvalTestDistillNet, force=True)


@pytest.fixture()
def runs(tmp_path):
    """Three fake work dirs: plain (params counted from config), OEM-finetuned, distilled."""
    _register_test_models()
    specs = {
        'plain': ("model = dict(type='EvalTestNet', width=4)\ndefault_scope = 'mmseg'\n",
                  _metrics([90.0, 61.5, 70.25, 80.0, math.nan], 75.44)),
        'b2_oem_ft': ("model = dict(type='EvalTestNet', width=8)\ndefault_scope = 'mmseg'\n"
                      "load_from = 'work_dirs/segformer_b2_oem/iter_40000.pth'\n",
                      _metrics([91.0, 65.0, 72.0, 81.0, 55.55], 72.91, num_params=27_400_000)),
        'kd': ("model = dict(type='EvalTestDistillSegmentor')\ndefault_scope = 'mmseg'\n",
               _metrics([92.0, 66.0, 73.0, 82.0, 56.0], 73.8)),
    }
    dirs = []
    for name, (cfg_text, metrics) in specs.items():
        d = tmp_path / name
        d.mkdir()
        (d / f'{name}_config.py').write_text(cfg_text)
        metrics_file.save_metrics(metrics, d / 'metrics_test.json')
        dirs.append(d)
    return dirs


def _parse_table(text):
    lines = [line for line in text.strip().splitlines()]
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    rows = [[c.strip() for c in line.strip('|').split('|')] for line in lines[2:]]
    return header, [dict(zip(header, r)) for r in rows]


def test_comparison_table_numbers_equal_metrics_files(runs):
    table = comparison.comparison_table(runs)
    header, rows = _parse_table(table)
    assert header == ['Model', 'Params (M)', 'OEM pretrained', 'Distilled', 'mIoU'] + [
        f'IoU {c}' for c in CLASSES]
    assert len(rows) == 3
    for run_dir, row in zip(runs, rows):
        m = json.loads((run_dir / 'metrics_test.json').read_text())
        assert row['Model'] == f'{run_dir.name}_config'
        assert row['mIoU'] == f"{m['mIoU']:.2f}"
        for c in CLASSES:
            v = m[f'IoU.{c}']
            assert row[f'IoU {c}'] == ('n/a' if v is None else f'{v:.2f}')
    plain, oem, kd = rows
    assert (plain['OEM pretrained'], plain['Distilled']) == ('no', 'no')
    assert (oem['OEM pretrained'], oem['Distilled']) == ('yes', 'no')
    assert (kd['OEM pretrained'], kd['Distilled']) == ('no', 'yes')
    assert oem['Params (M)'] == '27.40'     # stored num_params wins over counting
    assert plain['Params (M)'] == '0.00'    # 16 parameters


def test_parameter_counts_and_csv(runs, tmp_path):
    rows = comparison.comparison_rows(runs, names=['A', 'B', 'C'])
    assert [r.name for r in rows] == ['A', 'B', 'C']
    assert [r.num_params for r in rows] == [3 * 4 + 4, 27_400_000, 16]   # kd: student only
    comparison.comparison_csv(rows, tmp_path / 't.csv')
    got = list(csv.DictReader(open(tmp_path / 't.csv')))
    assert got[0]['num_params'] == '16' and got[0]['IoU.building'] == ''
    assert float(got[1]['IoU.building']) == 55.55 and float(got[2]['mIoU']) == 73.8


def test_sorting_and_metrics_file_inputs(runs):
    table = comparison.comparison_table([r / 'metrics_test.json' for r in runs], sort=True,
                                     count_params=False, extra_metrics=['mAcc'])
    _, rows = _parse_table(table)
    assert [r['mIoU'] for r in rows] == ['75.44', '73.80', '72.91']
    assert rows[0]['Params (M)'] == '?' and rows[0]['mAcc'] == '80.00'


def test_compare_runs_tool(runs, tmp_path, capsys):
    _command('report').main([str(r) for r in runs] + ['--names', 'a', 'b', 'c',
                                                          '--out', str(tmp_path / 't.md')])
    printed = capsys.readouterr().out
    assert printed == (tmp_path / 't.md').read_text()
    assert _parse_table(printed)[1][1]['Model'] == 'b'


@pytest.mark.parametrize('path, expected', [
    ('work_dirs/segformer_b2_oem/iter_40000.pth', True),
    ('work_dirs/OEM-pretrain/best_mIoU.pth', True),
    ('ckpt/openearthmap_b2.pth', True),
    ('work_dirs/poem/iter_100.pth', False),
    ('https://download.openmmlab.com/mit_b2.pth', False),
])
def test_oem_detection(path, expected):
    from mmengine import Config
    assert comparison.is_oem_pretrained(Config(dict(load_from=path, model=dict(type='X')))) is expected
    nested = Config(dict(model=dict(type='X', backbone=dict(init_cfg=dict(type='Pretrained',
                                                                           checkpoint=path)))))
    assert comparison.is_oem_pretrained(nested) is expected


# ---- training curves -------------------------------------------------------------------------
def _write_scalars(path, records):
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


@pytest.fixture()
def run_logs(tmp_path):
    """A run killed after iter 30 and resumed from iter 20 (a second timestamp folder)."""
    work = tmp_path / 'run'
    _write_scalars(work / '20250101_000000' / 'vis_data' / 'scalars.json', [
        {'lr': 0.01, 'loss': 1.5, 'decode.loss_ce': 1.5, 'iter': 10, 'step': 10},
        {'lr': 0.01, 'loss': 1.0, 'decode.loss_ce': 1.0, 'iter': 20, 'step': 20},
        {'aAcc': 50.0, 'mIoU': 20.0, 'mAcc': 30.0, 'IoU.road': None, 'data_time': 0.1, 'step': 20},
        {'lr': 0.01, 'loss': 0.9, 'iter': 30, 'step': 30},
    ])
    _write_scalars(work / '20250101_010000' / 'vis_data' / 'scalars.json', [
        {'lr': 0.005, 'loss': 0.8, 'iter': 30, 'step': 30},
        {'lr': 0.005, 'loss': 0.6, 'iter': 40, 'step': 40},
        {'aAcc': 70.0, 'mIoU': 45.5, 'mAcc': 50.0, 'IoU.road': 40.0, 'step': 40},
    ])
    with (work / '20250101_010000' / 'vis_data' / 'scalars.json').open('a') as f:
        f.write('{"loss": 0.5, "st')   # a line cut off by a killed process
    return work


def test_history_merges_resumed_runs(run_logs):
    hist = logs.load_history(run_logs)
    steps, loss = hist.train['loss']
    assert steps.tolist() == [10, 20, 30, 40] and loss.tolist() == [1.5, 1.0, 0.8, 0.6]
    steps, miou = hist.val['mIoU']
    assert steps.tolist() == [20, 40] and miou.tolist() == [20.0, 45.5]
    assert math.isnan(hist.val['IoU.road'][1][0])
    assert 'mIoU' not in hist.train and 'loss' not in hist.val


def test_training_curves_figure(run_logs, tmp_path, capsys):
    out = tmp_path / 'curves.png'
    _command('curves').main([str(run_logs), '--out', str(out), '--width', '9',
                                   '--height', '3.5', '--dpi', '80'])
    img = _png(out)
    assert img.shape == (280, 720, 3) and img.std() > 10


def test_training_curves_without_validation(tmp_path):
    work = tmp_path / 'noval'
    _write_scalars(work / 't' / 'vis_data' / 'scalars.json',
                   [{'loss': 1.0, 'lr': 0.1, 'step': 5}, {'loss': 0.5, 'lr': 0.1, 'step': 10}])
    out = plots.render_training_curves(str(work), str(tmp_path / 'c.png'))
    assert _png(out).shape == (400, 1100, 3)


# ---- metrics-only figures --------------------------------------------------------------------
def test_iou_bar_tool_one_and_several_runs(runs, tmp_path):
    out = tmp_path / 'bar.png'
    _command('iou_bar').main([str(runs[0]), '--out', str(out)])
    img = _png(out)
    assert img.shape == (450, 800, 3) and img.std() > 10
    out2 = tmp_path / 'bar2.png'
    _command('iou_bar').main([str(r) for r in runs] + ['--names', 'a', 'b', 'c', '--out', str(out2),
                                                    '--dpi', '50'])
    assert _png(out2).shape == (225, 400, 3)
    assert not np.array_equal(_png(out)[::2, ::2], _png(out2))


def test_confusion_matrix_tool_from_stored_matrix(tmp_path, capsys):
    conf = np.array([[50, 5, 0, 0, 0], [2, 40, 0, 0, 0], [0, 0, 30, 3, 0], [0, 0, 0, 60, 1],
                     [0, 0, 0, 0, 0]])
    m = _metrics([80.0] * 4 + [math.nan], 80.0, confusion_matrix=conf.tolist())
    metrics_file.save_metrics(m, tmp_path / 'metrics_test.json')
    _command('confusion').main(['--metrics', str(tmp_path), '--out-dir', str(tmp_path / 'cm')])
    img = _png(tmp_path / 'cm' / 'confusion_matrix.png')
    assert img.shape == (560, 640, 3) and img.std() > 10
    from vnseg.reports.confusion import load_csv
    got, classes = load_csv(tmp_path / 'cm' / 'confusion_matrix.csv')
    assert np.array_equal(got, conf) and classes == list(CLASSES)
    norm = (tmp_path / 'cm' / 'confusion_matrix_normalized.csv').read_text().splitlines()
    assert norm[2] == 'road,0.047619,0.952381,0.000000,0.000000,0.000000'   # 2/42, 40/42
    assert 'building' in capsys.readouterr().out


def test_confusion_matrix_from_metrics_without_matrix_says_so(runs):
    from vnseg.reports.confusion import confusion_from_metrics
    with pytest.raises(KeyError, match='VNIoUMetric'):
        confusion_from_metrics(runs[0])


def test_colorize_uses_palette_and_ignore_colour():
    rgb = plots.colorize(np.array([[0, 1], [4, 255]]))
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert rgb[0, 1].tolist() == [255, 190, 0] and rgb[1, 0].tolist() == [220, 40, 40]
    assert rgb[1, 1].tolist() == list(plots.IGNORE_COLOR)


def test_study_configs_flags_and_student_only_parameter_count():
    """The study's SegFormer-B0 configs: plain, OEM-finetuned, OEM + distilled (DistillSegmentor
    whose teacher must not be built nor counted)."""
    from mmengine import Config
    plain, oem, kd = (Config.fromfile(REPO / 'configs' / f'{n}.py') for n in (
        'segformer_b0_vn', 'segformer_b0_oem_ft_vn', 'segformer_b0_oem_kd_upernet_convnext_t_vn'))
    assert [comparison.is_oem_pretrained(c) for c in (plain, oem, kd)] == [False, True, True]
    assert [comparison.is_distilled(c) for c in (plain, oem, kd)] == [False, False, True]
    n_plain, n_kd = comparison.count_parameters(plain), comparison.count_parameters(kd)
    assert n_kd == n_plain
    assert 3_000_000 < n_plain < 4_500_000   # SegFormer-B0 with a 5-class head: ~3.7M
