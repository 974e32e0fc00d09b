"""tools/analysis_tools/param_table.py: our parameter counts within 10% of the study's, the table."""
import importlib
import os.path as osp

import pytest

from conftest import REPO
pytestmark = pytest.mark.usefixtures('one_torch_thread')
pt = importlib.import_module('vnseg.commands.params')


def test_every_study_config_is_listed_and_exists():
    paths = pt.study_configs()
    assert len(paths) == 12
    assert all(osp.isfile(p) for p in paths)


# The OEM pretraining/fine-tuning configs train the model of these VN configs (checked below),
# so only the 8 distinct models are built and counted.
SAME_MODEL = {'upernet_convnext_t_oem_pretrain': 'upernet_convnext_t_vn',
              'upernet_convnext_t_oem_ft_vn': 'upernet_convnext_t_vn',
              'segformer_b0_oem_pretrain': 'segformer_b0_vn',
              'segformer_b0_oem_ft_vn': 'segformer_b0_vn'}


@pytest.mark.parametrize('stem,base', SAME_MODEL.items())
def test_oem_configs_train_the_counted_models(stem, base):
    from mmengine.config import Config
    from vnseg.openmmlab.pretrained import disable_pretrained
    models = []
    for name in (stem, base):
        model = Config.fromfile(osp.join(REPO, 'configs', name + '.py')).model
        disable_pretrained(model)
        models.append(model.to_dict())
    assert models[0] == models[1]
    assert pt.STUDY[stem][1] == pt.STUDY[base][1]


@pytest.mark.parametrize('stem', [s for s in pt.STUDY if s not in SAME_MODEL])
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
    assert table[2] == '| `configs/a.py` | A-Net | 2.0 | 2.10 | +5.0% | 77.98 |'
    assert table[3] == '| `configs/b.py` | B-Net | – | 1.00 | – | – |'

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
