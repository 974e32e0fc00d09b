"""Colour-mask import: colour tables, unknown colours -> 255 counted, palette masks, Dubai originals."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import require_shared_data
from vnseg.core.classes import PALETTE
from vnseg.data.color_mask import (ColorTable, color_to_index, mask_from_array, parse_color,
                                   sanitize_index_mask)
from vnseg.data.io import read_mask_image, write_mask_png
from vnseg.data.label_map import LabelMapError
from vnseg.data.scenes import discover_scenes


def test_color_to_index_maps_known_colours_and_counts_unknown():
    table = ColorTable({'#FF0000': 'building', '0,0,255': 'water', (0, 0, 0): 0})
    rgb = np.array([[[255, 0, 0], [0, 0, 255], [0, 0, 0]],
                    [[1, 2, 3], [255, 0, 0], [1, 2, 3]]], np.uint8)
    mask, report = color_to_index(rgb, table)
    np.testing.assert_array_equal(mask, [[4, 2, 0], [255, 4, 255]])
    assert report.unknown_pixels == 2
    assert report.unknown_colors == [{'color': '#010203', 'pixels': 2}]


def test_parse_color_forms():
    assert parse_color('#6EC1E4') == (110, 193, 228)
    assert parse_color('110, 193, 228') == (110, 193, 228)
    assert parse_color([1, 2, 3]) == (1, 2, 3)
    with pytest.raises(LabelMapError):
        parse_color('#12345')
    with pytest.raises(LabelMapError):
        parse_color((1, 2, 300))


def test_color_table_from_json_and_presets(tmp_path):
    path = tmp_path / 'table.json'
    path.write_text(json.dumps({'colors': {'#102030': 'road', '9,9,9': 'ignore'}}))
    assert ColorTable.from_spec(path).colors == {(16, 32, 48): 1, (9, 9, 9): 255}
    assert ColorTable.from_spec(None).colors[tuple(PALETTE[3])] == 3
    assert ColorTable.from_spec('dubai').colors[(0x6E, 0xC1, 0xE4)] == 1
    with pytest.raises(LabelMapError, match='unknown colour table'):
        ColorTable.preset('nope')


def test_palette_colour_mask_vs_palette_index_mask(tmp_path):
    # a palette PNG whose *colours* carry the classes (index 0 = water colour, 1 = road colour)
    indices = np.array([[0, 1], [1, 7]], np.uint8)
    img = Image.frombytes('P', (2, 2), indices.tobytes())
    pal = [0] * 768
    pal[0:3], pal[3:6], pal[21:24] = [10, 20, 30], [40, 50, 60], [200, 0, 0]
    img.putpalette(pal)
    img.save(tmp_path / 'm.png')
    array, mode, palette = read_mask_image(tmp_path / 'm.png')
    assert mode == 'P'
    table = ColorTable({'#0A141E': 'water', '#28323C': 'road'})
    mask, rep = mask_from_array(array, mode, 'auto', table, palette)   # table given -> colours
    np.testing.assert_array_equal(mask, [[2, 1], [1, 255]])
    assert rep['unknown_pixels'] == 1 and rep['unknown_colors'][0]['color'] == '#C80000'
    mask, rep = mask_from_array(array, mode, 'auto', None, palette)    # no table -> stored indices
    np.testing.assert_array_equal(mask, [[0, 1], [1, 255]])
    assert rep == {'invalid_pixels': 1, 'invalid_values': {'7': 1}}


def test_vnseg_palette_masks_round_trip_as_colours(tmp_path):
    mask = np.array([[0, 1, 2], [3, 4, 255]], np.uint8)
    write_mask_png(tmp_path / 'ours.png', mask)
    array, mode, palette = read_mask_image(tmp_path / 'ours.png')
    np.testing.assert_array_equal(mask_from_array(array, mode, 'index')[0], mask)
    np.testing.assert_array_equal(mask_from_array(array, mode, 'color', ColorTable.preset('vnseg'), palette)[0], mask)


def test_sanitize_index_mask():
    out, rep = sanitize_index_mask(np.array([[0, 4, 5], [255, 9, 9]], np.uint8))
    np.testing.assert_array_equal(out, [[0, 4, 255], [255, 255, 255]])
    assert rep.invalid_pixels == 3 and rep.invalid_values == {5: 1, 9: 2}


def test_rgb_mask_cannot_be_read_as_indices():
    with pytest.raises(ValueError, match='mask_format="color"'):
        mask_from_array(np.zeros((2, 2, 3), np.uint8), 'RGB', 'index')


def test_dubai_originals_match_masks_5class(shared_data):
    root = require_shared_data('dubai_aerial')
    table = ColorTable.preset('dubai')
    files = sorted((root / 'original').glob('Tile */masks/*.png'))
    assert len(files) == 54
    modes, unknown, total, equal = set(), 0, 0, 0
    for path in files:
        array, mode, palette = read_mask_image(path)
        modes.add(mode)
        mask, rep = mask_from_array(array, mode, 'auto', table, palette)
        tile = path.parent.parent.name.split()[-1]
        expected = np.asarray(Image.open(root / 'masks_5class' / f'tile{tile}_{path.name}'))
        total += expected.size
        equal += int((mask == expected).sum())
        unknown += rep['unknown_pixels']
    assert modes == {'RGB', 'P'}  # the set mixes RGB and palette colour masks
    assert equal == total
    assert unknown == 1675         # stray black pixels -> ignore, counted


def test_dubai_classes_json_colours_are_not_the_mask_colours(shared_data):
    """Why the 'dubai' preset exists: the hex colours in classes.json do not occur in the PNGs."""
    root = require_shared_data('dubai_aerial', 'original')
    declared = {parse_color(c['color']) for c in json.loads((root / 'classes.json').read_text())['classes']}
    array, mode, palette = read_mask_image(root / 'Tile 1' / 'masks' / 'image_part_001.png')
    packed = np.unique((array[..., 0].astype(np.int64) << 16) | (array[..., 1].astype(np.int64) << 8) | array[..., 2])
    present = {(int(v) >> 16, (int(v) >> 8) & 255, int(v) & 255) for v in packed}
    assert present & declared == {(155, 155, 155)}  # only 'Unlabeled' grey agrees
    assert present <= set(ColorTable.preset('dubai').colors)


def test_dubai_pairs_are_discovered(shared_data):
    root = require_shared_data('dubai_aerial', 'original')
    scenes, unpaired = discover_scenes(root)
    assert len(scenes) == 55 and unpaired == []   # 54 pairs + classes.json (skipped later)
    pairs = [s for s in scenes if s.kind == 'pair']
    assert len(pairs) == 54
    first = next(s for s in pairs if s.scene_id == 'Tile_1__image_part_001')
    assert first.mask_path == root.resolve() / 'Tile 1' / 'masks' / 'image_part_001.png'
