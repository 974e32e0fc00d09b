"""The class scheme's shared tables (vnseg.core.classes): names per language, texts side by side."""
import pytest

from vnseg.core.classes import LANGUAGES, class_names, texts_by_language


def test_texts_side_by_side_become_one_table_per_language():
    table = texts_by_language({'title': ('Report', 'Báo cáo'), 'zone': ('zone', 'khu vực')})
    assert LANGUAGES == ('en', 'vi')
    assert table == {'en': {'title': 'Report', 'zone': 'zone'}, 'vi': {'title': 'Báo cáo', 'zone': 'khu vực'}}


def test_a_missing_translation_names_its_key():
    with pytest.raises(ValueError, match="text 'zone': 1 translations"):
        texts_by_language({'title': ('Report', 'Báo cáo'), 'zone': ('zone',)})


def test_class_names_per_language_and_unknown_names_kept():
    assert class_names('vi', ('water', 'building', 'car')) == ('mặt nước', 'công trình', 'car')
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        class_names('fr')
