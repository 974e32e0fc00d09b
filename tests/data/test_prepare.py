"""prepare_dataset: layout, both split modes, augmentation pairing, determinism, idempotence."""
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vnseg.data.augment import GEOMETRIC_OPS, apply_geometric, augment_variants
from vnseg.data.patches import SceneTooSmallError, keep_patch, patch_windows
from vnseg.data.prepare import PatchOptions, PrepareError, SceneOptions, SplitOptions, prepare_dataset
from vnseg.data.split import split_by_scene, split_counts
from vnseg.testing.synthetic_scenes import generate_scenes

PATCH = 64


@pytest.fixture(scope='module')
def scenes_dir(tmp_path_factory):
    """6 synthetic 128x128 scenes: 4 windows of 64 px each."""
    src = tmp_path_factory.mktemp('scenes')
    generate_scenes(src, num_scenes=6, size=128, seed=1)
    return src


def run(src, out, patches=PatchOptions(patch_size=PATCH), split=SplitOptions(), scenes=SceneOptions(), chart=False):
    return prepare_dataset(src, out, patches, split, scenes, progress=False, chart=chart)


def files(out):
    """{relative path: sha1} of every data file written (patches and scenes)."""
    result = {}
    for top in ('img_dir', 'ann_dir', 'scenes'):
        for p in sorted((Path(out) / top).rglob('*.png')):
            result[str(p.relative_to(out))] = hashlib.sha1(p.read_bytes()).hexdigest()
    assert result, f'{out}: no data file (two empty outputs would compare equal)'
    return result


def patch_scenes(out, split):
    """Scene ids of the original (non-augmented) patches in a split."""
    return {p.name.split('_y')[0] for p in (Path(out) / 'img_dir' / split).glob('*.png') if '_aug' not in p.name}


# ------------------------------------------------------------------------------------------------
def test_split_counts_hand_computed():
    assert split_counts(6) == [4, 1, 1]      # 4.8/.6/.6 -> 5/1/0, then test takes one from train
    assert split_counts(10) == [8, 1, 1]
    assert split_counts(24) == [19, 3, 2]    # 19.2/2.4/2.4, the spare goes to val (stable order)
    assert split_counts(2) == [2, 0, 0]      # too few to fill every split
    with pytest.raises(ValueError):
        split_counts(5, (0.5, 0.5))


def test_split_is_seeded_and_order_independent():
    ids = [f's{i}' for i in range(10)]
    a = split_by_scene(ids, seed=3)
    assert a == split_by_scene(list(reversed(ids)), seed=3)
    assert sorted(a.values()).count('train') == 8
    assert any(split_by_scene(ids, seed=s) != a for s in range(4, 8))


def test_patch_windows_edge_modes():
    assert [(w.y, w.x) for w in patch_windows(100, 100, 64)] == [(0, 0), (0, 36), (36, 0), (36, 36)]
    assert [(w.y, w.x) for w in patch_windows(100, 100, 64, edge='pad')] == [(0, 0), (0, 64), (64, 0), (64, 64)]
    assert [(w.y, w.x) for w in patch_windows(100, 100, 64, edge='drop')] == [(0, 0)]
    assert len(patch_windows(128, 192, 64, stride=32)) == 3 * 5
    with pytest.raises(SceneTooSmallError, match='smaller than one 64x64 patch'):
        patch_windows(63, 100, 64, path='x.json')


def test_background_threshold():
    m = np.zeros((64, 64), np.uint8)
    m[:40, :40] = 4                               # 1600 / 4096 = 39 % foreground
    assert keep_patch(m, 1.0) and not keep_patch(m, 0.5) and keep_patch(m, 0.7)
    assert not keep_patch(np.zeros((8, 8), np.uint8), 1.0)        # all background
    assert not keep_patch(np.full((8, 8), 255, np.uint8), 1.0)    # all ignore
    assert keep_patch(np.zeros((8, 8), np.uint8), None)


# ------------------------------------------------------------------------------------------------
def test_by_scene_layout_and_no_scene_in_two_splits(scenes_dir, tmp_path):
    out = tmp_path / 'out'
    summary = run(scenes_dir, out, PatchOptions(PATCH, num_augment=2), chart=True)
    assert summary['failures'] == [] and summary['num_scenes'] == 6
    sets = {s: patch_scenes(out, s) for s in ('train', 'val', 'test')}
    assert [summary['splits'][s]['scenes'] for s in ('train', 'val', 'test')] == [4, 1, 1]
    assert not (sets['train'] & sets['val'] or sets['train'] & sets['test'] or sets['val'] & sets['test'])
    for info in summary['scenes']:
        assert info['patches_per_split'].keys() <= {info['split']}
    # mmseg layout: same stems in img_dir and ann_dir, RGB images, palette masks with valid values
    for split in ('train', 'val', 'test'):
        imgs = sorted(p.name for p in (out / 'img_dir' / split).glob('*.png'))
        assert imgs == sorted(p.name for p in (out / 'ann_dir' / split).glob('*.png'))
    n_train = summary['splits']['train']['patches']
    n_aug_files = len(list((out / 'img_dir' / 'train').glob('*_aug*.png')))
    assert n_aug_files == summary['splits']['train']['augmented'] == 2 * n_train
    some = next((out / 'ann_dir' / 'val').glob('*.png'))
    ann = Image.open(some)
    assert ann.mode == 'P' and ann.size == (PATCH, PATCH) and set(np.unique(ann)) <= {0, 1, 2, 3, 4, 255}
    assert Image.open(out / 'img_dir' / 'val' / some.name).mode == 'RGB'
    total = sum(summary['splits'][s]['patches'] for s in ('train', 'val', 'test'))
    assert total + summary['skipped_patches']['background'] == 6 * 4
    on_disk = json.loads((out / 'summary.json').read_text())
    assert on_disk['splits'] == summary['splits']
    assert (out / 'class_distribution.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_patches_are_crops_of_the_scene(scenes_dir, tmp_path):
    out = tmp_path / 'out'
    run(scenes_dir, out, PatchOptions(PATCH, num_augment=0))
    patch = next((out / 'img_dir' / 'train').glob('*.png'))
    sid, y, x = patch.stem.rsplit('_y', 1)[0], int(patch.stem.split('_y')[1][:5]), int(patch.stem.split('_x')[1])
    scene = np.asarray(Image.open(out / 'scenes' / 'img' / f'{sid}.png'))
    scene_mask = np.asarray(Image.open(out / 'scenes' / 'ann' / f'{sid}.png'))
    np.testing.assert_array_equal(np.asarray(Image.open(patch)), scene[y:y + PATCH, x:x + PATCH])
    np.testing.assert_array_equal(np.asarray(Image.open(out / 'ann_dir' / 'train' / patch.name)),
                                  scene_mask[y:y + PATCH, x:x + PATCH])


def test_by_patch_mode_splits_patches_and_leaks_scenes(scenes_dir, tmp_path):
    out = tmp_path / 'out'
    summary = run(scenes_dir, out, PatchOptions(PATCH, num_augment=0, background_threshold=None), SplitOptions('patch'))
    counts = [summary['splits'][s]['patches'] for s in ('train', 'val', 'test')]
    assert counts == [19, 3, 2]                 # 24 patches, split_counts(24)
    sets = {s: patch_scenes(out, s) for s in ('train', 'val', 'test')}
    assert sets['train'] & (sets['val'] | sets['test'])  # the leak this mode is known for


def test_augmented_masks_follow_their_images(scenes_dir, tmp_path):
    out = tmp_path / 'out'
    run(scenes_dir, out, PatchOptions(PATCH, num_augment=3))
    train = out / 'img_dir' / 'train'
    augmented = sorted(train.glob('*_aug*.png'))
    assert augmented
    ops_seen = set()
    for aug in augmented[:12]:
        stem, suffix = aug.stem.split('_aug')
        op = suffix.split('-', 1)[1]
        ops_seen.add(op)
        img = np.asarray(Image.open(train / f'{stem}.png')).astype(np.float64)
        msk = np.asarray(Image.open(out / 'ann_dir' / 'train' / f'{stem}.png'))
        aug_img = np.asarray(Image.open(aug)).astype(np.float64)
        aug_msk = np.asarray(Image.open(out / 'ann_dir' / 'train' / aug.name))
        np.testing.assert_array_equal(aug_msk, apply_geometric(msk, op))
        # the image went through the same geometric op: it correlates best with that transform
        def corr(a):
            a, b = a - a.mean(), aug_img - aug_img.mean()
            return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
        scores = {name: corr(apply_geometric(img, name)) for name in GEOMETRIC_OPS}
        scores['identity'] = corr(img)
        assert max(scores, key=scores.get) == op, (aug.name, scores)
    assert len(ops_seen) > 1
    assert not list((out / 'img_dir' / 'val').glob('*_aug*')) and not list((out / 'img_dir' / 'test').glob('*_aug*'))


def test_augment_variants_are_deterministic_per_key():
    img = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    msk = np.arange(64, dtype=np.uint8).reshape(8, 8) % 5
    a = augment_variants(img, msk, 2, seed=0, key='p1')
    b = augment_variants(img, msk, 2, seed=0, key='p1')
    c = augment_variants(img, msk, 2, seed=0, key='p2')
    assert [x[0] for x in a] == [x[0] for x in b] and all((x[1] == y[1]).all() for x, y in zip(a, b))
    assert [x[0] for x in a] != [x[0] for x in c] or any((x[1] != y[1]).any() for x, y in zip(a, c))
    assert len({x[0].split('-')[1] for x in augment_variants(img, msk, 7, 0, 'k')}) == 7


def test_deterministic_for_a_seed(scenes_dir, tmp_path):
    a, b, c = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
    sa = run(scenes_dir, a, split=SplitOptions('patch', seed=5))
    sb = run(scenes_dir, b, split=SplitOptions('patch', seed=5))
    run(scenes_dir, c, split=SplitOptions('patch', seed=6))
    assert files(a) == files(b)
    for s in (sa, sb):
        s.pop('out')
    assert sa == sb
    assert set(files(a)) != set(files(c))       # another seed, another split/augmentation


def test_rerun_is_idempotent_and_prunes_stale_files(scenes_dir, tmp_path):
    out, fresh = tmp_path / 'out', tmp_path / 'fresh'
    run(scenes_dir, out, split=SplitOptions('patch', seed=0))
    first = files(out)
    run(scenes_dir, out, split=SplitOptions('patch', seed=0))
    assert files(out) == first
    summary = run(scenes_dir, out, PatchOptions(PATCH, num_augment=1),
                  SplitOptions('patch', seed=1))   # different result in place
    run(scenes_dir, fresh, PatchOptions(PATCH, num_augment=1), SplitOptions('patch', seed=1))
    assert files(out) == files(fresh)
    assert summary['removed_stale_files'] > 0
    assert not [p for p in out.rglob('*') if '.partial-' in p.name]  # no temporary file left behind


def test_refuses_foreign_output_folder(scenes_dir, tmp_path):
    (tmp_path / 'img_dir').mkdir()
    with pytest.raises(PrepareError, match='not written by prepare_dataset'):
        run(scenes_dir, tmp_path)
    with pytest.raises(PrepareError, match='must differ'):
        run(scenes_dir, scenes_dir)


def test_output_inside_source_is_not_read_back(scenes_dir, tmp_path):
    src = tmp_path / 'src'
    shutil.copytree(scenes_dir, src)
    (src / '.hidden').mkdir()
    (src / '.hidden' / 'x.json').write_text('{')          # hidden folders are not searched
    run(src, src / 'prepared', PatchOptions(PATCH, num_augment=0))
    summary = run(src, src / 'prepared', PatchOptions(PATCH, num_augment=0))
    assert summary['num_scenes'] == 6 and summary['unpaired_images'] == []


def test_dataset_class_reads_the_output(scenes_dir, tmp_path):
    from vnseg.datasets.vn_drone import VNDroneDataset
    out = tmp_path / 'out'
    summary = run(scenes_dir, out, PatchOptions(PATCH, num_augment=1))
    ds = VNDroneDataset(data_root=str(out), data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
                        pipeline=[])
    assert len(ds) == summary['splits']['train']['patches'] * 2
    info = ds.get_data_info(0)
    assert Path(info['img_path']).stem == Path(info['seg_map_path']).stem


def test_image_and_mask_pairs(tmp_path):
    src = tmp_path / 'src'
    (src / 'site' / 'images').mkdir(parents=True)
    (src / 'site' / 'masks').mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)).save(src / 'site' / 'images' / 'a.jpg')
    rgb = np.zeros((64, 128, 3), np.uint8)
    rgb[:, :64] = (0x84, 0x29, 0xF6)            # dubai 'land' (background) on the left half
    rgb[:, 64:] = (0x6E, 0xC1, 0xE4)            # dubai road colour on the right half
    rgb[0, 0] = (1, 2, 3)                       # an unknown colour
    Image.fromarray(rgb).save(src / 'site' / 'masks' / 'a.png')
    summary = run(src, tmp_path / 'out', PatchOptions(PATCH, num_augment=0, background_threshold=None),
                  scenes=SceneOptions(color_table='dubai'))
    assert summary['failures'] == []
    (scene,) = summary['scenes']
    assert scene['id'] == 'site__a' and scene['qa']['unknown_pixels'] == 1
    assert scene['class_pixels'] == {'background': 64 * 64 - 1, 'road': 64 * 64, 'ignore': 1}
    assert summary['qa_totals']['unknown_color_pixels'] == 1


def test_prepare_tool_exit_status(scenes_dir, tmp_path, capsys):
    tool = importlib.import_module('vnseg.commands.prepare')
    argv = [str(scenes_dir), '--patch-size', '64', '--no-progress', '--no-chart']
    assert tool.main(argv + ['--out-dir', str(tmp_path / 'out')]) == 0
    assert '6 scene(s)' in capsys.readouterr().out
    # a share drops mostly-background patches; --keep-background keeps every patch
    assert tool.main(argv + ['--out-dir', str(tmp_path / 'half'), '--background-threshold', '0.5']) == 0
    assert tool.main(argv + ['--out-dir', str(tmp_path / 'all'), '--keep-background']) == 0
    assert ' 0 background patch(es) dropped' in capsys.readouterr().out
    half, kept = (json.loads((tmp_path / d / 'summary.json').read_text()) for d in ('half', 'all'))
    dropped = half['skipped_patches']['background']
    assert dropped > 0 and kept['params']['background_threshold'] is None
    assert sum(s['patches'] for s in kept['splits'].values()) == \
        sum(s['patches'] for s in half['splits'].values()) + dropped
    # a share outside (0, 1] is a usage error, not a hidden "keep all"
    with pytest.raises(SystemExit) as exit_info:
        tool.main(argv + ['--out-dir', str(tmp_path / 'bad'), '--background-threshold', '1.5'])
    assert exit_info.value.code == 2 and 'must be in (0, 1]' in capsys.readouterr().err
    assert not (tmp_path / 'bad').exists()
