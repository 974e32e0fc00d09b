"""The vnseg class scheme: one place for names, indices, colours and the ignore value."""
from __future__ import annotations

from typing import Sequence, Tuple

#: Class names, index = class id in every mask vnseg reads or writes.
CLASSES = ('background', 'road', 'water', 'tree', 'building')

#: Vietnamese class names, same order as :data:`CLASSES` (planning vocabulary: "mặt nước" = water surface).
CLASSES_VI = ('nền', 'đường', 'mặt nước', 'cây xanh', 'công trình')

#: The one table of class names shown to people (layers, tables, legends, reports), per language;
#: index = class id. labelme/AnyLabeling labels are read in every language (vnseg.data.label_map).
CLASS_NAMES = {
    'en': CLASSES,
    'vi': CLASSES_VI,
}

#: Languages of :data:`CLASS_NAMES`.
LANGUAGES = tuple(CLASS_NAMES)

#: RGB colour per class, used for palette PNGs, previews and GeoTIFF colour tables.
PALETTE = [
    [0, 0, 0],        # background
    [255, 190, 0],    # road
    [0, 110, 255],    # water
    [30, 160, 50],    # tree
    [220, 40, 40],    # building
]

#: Mask value for pixels that are not labelled / must not count in losses or metrics.
IGNORE_INDEX = 255

#: RGB colour of ``IGNORE_INDEX`` pixels in palette masks, previews and figures.
IGNORE_COLOR = (255, 255, 255)

NUM_CLASSES = len(CLASSES)


def class_names(lang: str = 'en', classes: Sequence[str] = CLASSES) -> Tuple[str, ...]:
    """Display names of ``classes`` (canonical English names, index = class id) in ``lang``.

    Names that the table does not know (a model trained with other classes) stay as they are.

    Raises:
        ValueError: ``lang`` is not one of :data:`LANGUAGES`.
    """
    if lang not in CLASS_NAMES:
        raise ValueError(f'unknown language {lang!r}; choose one of {", ".join(LANGUAGES)}')
    table = dict(zip(CLASSES, CLASS_NAMES[lang]))
    return tuple(table.get(name, name) for name in classes)


def texts_by_language(texts: dict) -> dict:
    """``{key: (English, Vietnamese)}`` (one text per language of :data:`LANGUAGES`, in order) as
    ``{lang: {key: text}}``: a page's strings written side by side, so a missing translation shows."""
    for key, pair in texts.items():
        if len(pair) != len(LANGUAGES):
            raise ValueError(f'text {key!r}: {len(pair)} translations for the languages {", ".join(LANGUAGES)}')
    return {lang: {key: pair[i] for key, pair in texts.items()} for i, lang in enumerate(LANGUAGES)}
