"""Explicit, configurable mapping from annotation label strings to class indices.

The default map knows vnseg's five class names in English and Vietnamese (case-insensitive, surrounding spaces ignored),
labelme's ``_background_`` as background, and the usual "do not learn this" labels
(``__ignore__``, ``_ignore_``, ``ignore``, ``unlabeled``, ``unlabelled``, ``void``) as
``IGNORE_INDEX`` (255). Any other label is *unknown*: the converters raise an error naming the file,
the shape and the label (or, if asked, map it to 255 and report it).

Custom maps come from a dict, a JSON file or a labelme ``labels.txt``:

* JSON: ``{"car": 1, "track": "road", "__ignore__": 255}`` or
  ``{"labels": {...}, "case_sensitive": true}``; a value is an index 0-255, one of vnseg's class
  names, or ``"ignore"``.
* ``labels.txt`` (labelme convention, one label per line): ignore-style names get 255, the others
  get 0, 1, 2, ... in file order (so ``__ignore__, _background_, car`` gives ``_background_`` 0 and
  ``car`` 1, exactly like ``labelme2voc``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional, Union

from vnseg.core.classes import CLASS_NAMES, CLASSES, IGNORE_INDEX

#: Labels that mean "ignore this region" in the tools' conventions (compared case-insensitively).
IGNORE_LABELS = ('__ignore__', '_ignore_', 'ignore', 'unlabeled', 'unlabelled', 'void')


class LabelMapError(ValueError):
    """An invalid label map specification."""

    #: a user's mistake: tools report it as one line (:mod:`vnseg.commands.cli`)
    user_error = True


def read_json_object(path: Union[str, os.PathLike], what: str) -> dict:
    """The JSON object in the file ``path``; a :class:`LabelMapError` naming the file and ``what`` it should
    hold (``'label map'``, ``'colour table'``) when it cannot be read or is not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding='utf-8'))
    except (OSError, ValueError) as e:
        raise LabelMapError(f'{path}: cannot read {what} ({e})') from e
    if not isinstance(data, dict):
        raise LabelMapError(f'{path}: {what} must be a JSON object')
    return data


def _norm(label: str, case_sensitive: bool) -> str:
    label = str(label).strip()
    return label if case_sensitive else label.casefold()


class LabelMap:
    """Label string -> class index (0-255).

    Args:
        mapping: label -> index (int 0-255), class name (str in ``CLASSES``) or ``'ignore'``.
        case_sensitive: compare labels exactly (after stripping spaces) instead of case-folded.
    """

    def __init__(self, mapping: Mapping[str, Union[int, str]], case_sensitive: bool = False):
        self.case_sensitive = bool(case_sensitive)
        self._map = {}
        for label, value in mapping.items():
            self._map[_norm(label, self.case_sensitive)] = self._value(label, value)

    @staticmethod
    def _value(label, value) -> int:
        if isinstance(value, bool):
            raise LabelMapError(f'label {label!r}: invalid class value {value!r}')
        if isinstance(value, str):
            name = value.strip().casefold()
            if name in ('ignore', str(IGNORE_INDEX)):
                return IGNORE_INDEX
            for i, cls in enumerate(CLASSES):
                if cls.casefold() == name:
                    return i
            if name.isdigit():
                value = int(name)
            else:
                raise LabelMapError(f'label {label!r}: unknown class name {value!r} '
                                    f'(expected one of {list(CLASSES)}, "ignore" or an index)')
        if not isinstance(value, int) or not 0 <= value <= 255:
            raise LabelMapError(f'label {label!r}: class index must be an int in 0..255, got {value!r}')
        return int(value)

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def default(cls) -> 'LabelMap':
        """vnseg's 5 class names (in every language of :data:`vnseg.core.classes.CLASS_NAMES`, so
        Vietnamese pre-labels convert too) + ``_background_`` + ignore-style labels, case-insensitive."""
        mapping = {name: i for names in CLASS_NAMES.values() for i, name in enumerate(names)}
        mapping['_background_'] = 0
        mapping.update({name: IGNORE_INDEX for name in IGNORE_LABELS})
        return cls(mapping)

    @classmethod
    def from_labels_txt(cls, path: Union[str, os.PathLike], case_sensitive: bool = False) -> 'LabelMap':
        """labelme ``labels.txt``: ignore-style lines -> 255, the others 0, 1, 2... in file order."""
        mapping, index = {}, 0
        for line in Path(path).read_text(encoding='utf-8').splitlines():
            label = line.strip()
            if not label:
                continue
            if label.casefold() in IGNORE_LABELS:
                mapping[label] = IGNORE_INDEX
            else:
                if index > 255:
                    raise LabelMapError(f'{path}: more than 256 labels')
                mapping[label] = index
                index += 1
        if not mapping:
            raise LabelMapError(f'{path}: no labels')
        return cls(mapping, case_sensitive=case_sensitive)

    @classmethod
    def from_json(cls, path: Union[str, os.PathLike]) -> 'LabelMap':
        """JSON file: a flat ``{label: value}`` dict or ``{"labels": {...}, "case_sensitive": bool}``."""
        data = read_json_object(path, 'label map')
        if isinstance(data.get('labels'), dict):
            return cls(data['labels'], case_sensitive=bool(data.get('case_sensitive', False)))
        return cls(data)

    @classmethod
    def from_spec(cls, spec: Optional[Union['LabelMap', Mapping, str, os.PathLike]]) -> 'LabelMap':
        """None -> default; a LabelMap; a dict; or a path to a ``.json`` / ``.txt`` file."""
        if spec is None:
            return cls.default()
        if isinstance(spec, LabelMap):
            return spec
        if isinstance(spec, Mapping):
            return cls(spec)
        path = Path(spec)
        if path.suffix.lower() == '.txt':
            return cls.from_labels_txt(path)
        return cls.from_json(path)

    # -- queries -------------------------------------------------------------------------------
    def lookup(self, label: str) -> Optional[int]:
        """Class index of ``label``, or None when the label is unknown."""
        return self._map.get(_norm(label, self.case_sensitive))

    def values(self) -> set:
        """Set of class indices the map can produce."""
        return set(self._map.values())

    def as_dict(self) -> dict:
        """Normalised label -> index."""
        return dict(self._map)

    def __repr__(self):
        return f'LabelMap({self._map!r}, case_sensitive={self.case_sensitive})'
