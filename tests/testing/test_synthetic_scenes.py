"""The demo's scene generator (vnseg.testing.synthetic_scenes): deterministic, consistent with its JSON,
all classes, learnable colour cues that are not trivially separable."""
import importlib.util
import json

import numpy as np
from PIL import Image

from vnseg.data.labelme import json_to_mask, load_annotation
from vnseg.testing.synthetic_scenes import generate_scene, generate_scenes

from conftest import REPO


def test_same_seed_same_scene_other_seed_other_scene():
    a_img, a_shapes, a_mask = generate_scene(160, seed=7, index=2)
    b_img, b_shapes, b_mask = generate_scene(160, seed=7, index=2)
    c_img, _, c_mask = generate_scene(160, seed=8, index=2)
    assert (a_img == b_img).all() and (a_mask == b_mask).all() and a_shapes == b_shapes
    assert not (a_img == c_img).all() and not (a_mask == c_mask).all()


def test_written_files_are_deterministic_and_json_reproduces_the_mask(tmp_path):
    paths = generate_scenes(tmp_path / 'a', num_scenes=2, size=(96, 160), seed=3, write_masks=True)
    again = generate_scenes(tmp_path / 'b', num_scenes=2, size=(96, 160), seed=3)
    assert [p.name for p in paths] == ['scene_000.json', 'scene_001.json']
    for p, q in zip(paths, again):
        assert p.read_bytes() == q.read_bytes()
        assert p.with_suffix('.png').read_bytes() == q.with_suffix('.png').read_bytes()
        ann = load_annotation(p)
        assert (ann.image_height, ann.image_width, ann.image_path, ann.image_data) == (96, 160, p.stem + '.png', None)
        assert {s.shape_type for s in ann.shapes} == {'polygon'}
        mask, report = json_to_mask(p, root=p.parent)       # vnseg's own converter, default label map
        truth = np.asarray(Image.open(p.parent / f'{p.stem}_mask.png'))
        assert (mask == truth).all() and report.degenerate_shapes == []


def test_all_classes_present_with_learnable_but_not_trivial_colours():
    data = [generate_scene(256, seed=0, index=i) for i in range(4)]
    pixels = np.concatenate([img.reshape(-1, 3) for img, _, _ in data]).astype(np.float64)
    labels = np.concatenate([m.ravel() for _, _, m in data])
    shares = np.bincount(labels, minlength=5) / labels.size
    assert (shares > 0.02).all() and shares[0] < 0.8, shares
    means = np.stack([pixels[labels == c].mean(0) for c in range(5)])
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(5, 1)]
    assert gaps.min() > 15, gaps                    # every class has its own colour cue ...
    pred = np.argmin(((pixels[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    accuracy = (pred == labels).mean()
    assert 0.6 < accuracy < 0.95, accuracy          # ... but colour alone does not solve the task


def test_generate_scenes_tool(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('gen_tool', REPO / 'demo' / 'generate_scenes.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    argv = ['--out-dir', str(tmp_path), '--num-scenes', '2', '--size', '80', '96', '--seed', '1', '--no-progress']
    assert tool.main(argv) == 0
    doc = json.loads((tmp_path / 'scene_001.json').read_text())
    assert (doc['imageHeight'], doc['imageWidth']) == (80, 96)
    assert Image.open(tmp_path / 'scene_001.png').size == (96, 80)
