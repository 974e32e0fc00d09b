"""tools/analysis_tools/param_table.py: our parameter counts within 10% of the study's, the table."""
import importlib.util
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool():
    path = osp.join(REPO, 'tools', 'analysis_tools', 'param_table.py')
    spec = importlib.util.spec_from_file_location('param_table', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pt = load_tool()


def test_every_study_config_is_listed_and_exists():
    paths = pt.study_configs()
    assert len(paths) == 12
    assert all(osp.isfile(p) for p in paths)


@pytest.mark.parametrize('stem', list(pt.STUDY))
def test_params_within_tolerance_of_the_study(stem):
    row = pt.measure(osp.join(REPO, 'configs', stem + '.py'), flops=False)
    assert row['study_params'] == pt.STUDY[stem][1]
    assert abs(row['params'] / row['study_params'] - 1) <= pt.TOLERANCE, row
    assert row['rel_diff'] == pytest.approx(row['params'] / row['study_params'] - 1)


def test_flops_scale_with_pixels():
    """FLOPs of a conv net grow with the input area (x4 when both sides double)."""
    from mmengine.config import Config
    model = pt.build_model(Config.fromfile(osp.join(REPO, 'configs', 'pspnet_r18_vn.py')))
    small, large = pt.count_flops(model, (64, 64)), pt.count_flops(model, (128, 128))
    assert small > 0
    assert large / small == pytest.approx(4.0, rel=0.05)


def test_markdown_table_and_cli(tmp_path, capsys):
    rows = [dict(config='configs/a.py', stem='a', model='A-Net', study_params=2.0, params=2.1,
                 rel_diff=0.05, gflops=None, study_miou=77.98),
            dict(config='configs/b.py', stem='b', model='B-Net', study_params=None, params=1.0,
                 rel_diff=None, gflops=None, study_miou=None)]
    table = pt.to_markdown(rows).splitlines()
    assert table[0] == ('| config | model | study params (M) | our params (M) | diff | '
                        'study test mIoU |')
    assert table[2] == '| `configs/a.py` | A-Net | 2.0 | 2.1 | +5.0% | 77.98 |'
    assert table[3] == '| `configs/b.py` | B-Net | – | 1.0 | – | – |'

    out = tmp_path / 'table.md'
    assert pt.main([osp.join(REPO, 'configs', 'pspnet_r18_vn.py'), '--shape', '64',
                    '--out', str(out), '--check']) == 0
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    header, _, row = printed.splitlines()
    assert 'GFLOPs @64x64' in header
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[:3] == ['`configs/pspnet_r18_vn.py`', 'PSPNet-R18', '2.1']
    assert abs(float(cells[3]) - 2.1) <= 0.21 and float(cells[5]) > 0 and cells[6] == '77.98'
