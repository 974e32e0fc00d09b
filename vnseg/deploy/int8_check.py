"""The int8 check where a model runs: this CPU's integer kernels against a reference, on a few real tiles.

An int8 file is checked against the fp32 graph when it is exported (:func:`vnseg.deploy.quantize.quantize_checked`),
but on the exporting CPU. ONNX Runtime picks its integer kernels by the CPU it runs on (VNNI, AVX-512, AVX2), and a
file whose weights use the full 8 bits gives wrong sums on x86 CPUs without VNNI (see :mod:`vnseg.deploy.quantize`).
So before a whole scene is mapped with an int8 model, :func:`check_int8_here` runs it on a few tiles of the scene on
this machine and compares its classes with a reference:

* the fp32 model beside it (``model.onnx`` for ``model.int8.onnx``), when it is there: the same comparison and the
  same threshold (the file's ``min_agreement``) as at export;
* otherwise the int8 file's own float arithmetic (:func:`vnseg.deploy.quantize.float_reference`): ONNX Runtime
  runs the graph's quantise / dequantise pairs as written, in float32, with no integer kernel. That is what the
  file means on any CPU, so a disagreement is this CPU's kernels going wrong.

Below the threshold it raises :class:`Int8CheckError`; ``vnseg map`` then stops with one line (or maps with the fp32
model when the user asked for that).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

__all__ = ['Int8CheckError', 'CHECK_TILES', 'fp32_sibling', 'check_int8_here', 'check_tiles', 'check_int8_for_images']

#: Tiles of the scene the check runs on (spread over the first image that has enough valid pixels).
CHECK_TILES = 4


class Int8CheckError(ValueError):
    """An int8 model that gives wrong classes on this CPU; the message names the file and the figures."""

    user_error = True

    def __init__(self, path, facts: dict):
        self.facts = facts
        super().__init__(
            f"{path}: on this CPU ({facts['cpu']['summary']}, {facts['backend']}) the int8 model agrees with "
            f"{facts['reference']} on only {100 * facts['agreement']:.2f} % of {facts['pixels']} pixels of "
            f"{facts['tiles']} tiles of {facts['image']} (< {100 * facts['min_agreement']:.2f} %, its threshold)")


def fp32_sibling(int8_path) -> Optional[Path]:
    """``model.onnx`` beside ``model.int8.onnx`` when it exists (the name ``vnseg export --int8`` gives), else None."""
    p = Path(int8_path)
    if not p.name.endswith('.int8.onnx'):
        return None
    fp32 = p.with_name(p.name[:-len('.int8.onnx')] + '.onnx')
    return fp32 if fp32.is_file() else None


def check_tiles(images: Sequence, tile: int, max_tiles: int = CHECK_TILES) -> tuple:
    """``(rgb, valid, image)``: up to ``max_tiles`` real tiles spread over the first of ``images`` that has tiles
    with at least half their pixels valid (:func:`vnseg.deploy.quantize.calibration_tiles`).

    Raises ValueError naming the images when none has such a tile (unreadable images included).
    """
    from vnseg.core.errors import DataError
    from vnseg.deploy.quantize import calibration_tiles
    problems = []
    for image in images:
        try:
            rgb, valid = calibration_tiles([image], tile, max_tiles)
            return rgb, valid, Path(image)
        except (ValueError, OSError, DataError) as err:
            problems.append(str(err))
    raise ValueError(f"{', '.join(map(str, images))}: no tile to check the int8 model on ({'; '.join(problems)})")


def check_int8_here(int8_model, rgb: np.ndarray, valid: np.ndarray, image='the scene',
                    fp32_path=None) -> dict:
    """Check an int8 :class:`~vnseg.inference.tile_models.OnnxTileModel` on this CPU with the tiles ``rgb`` / ``valid``.

    The reference is the fp32 model ``fp32_path`` when given (default: :func:`fp32_sibling`), else the file's
    own float arithmetic (:func:`vnseg.deploy.quantize.float_reference`); the threshold is the one the file was
    exported with (``vnseg.int8.min_agreement``; :data:`vnseg.deploy.quantize.DEFAULT_MIN_AGREEMENT` when absent).

    Returns the facts (``agreement``, ``pixels``, ``tiles``, ``reference``, ``min_agreement``, ``image``,
    ``cpu``). Raises :class:`Int8CheckError` below the threshold, ValueError when ``int8_model`` is not an int8
    file of vnseg's.
    """
    from vnseg.deploy.cpu import cpu_int8_features
    from vnseg.deploy.quantize import DEFAULT_MIN_AGREEMENT, int8_agreement, kernel_agreement
    from vnseg.inference.tile_models import OnnxTileModel
    int8 = int8_model.int8
    if int8 is None:
        raise ValueError(f'{int8_model.path}: not an int8 model of vnseg (no vnseg.int8 metadata)')
    min_agreement = float(int8.get('min_agreement', DEFAULT_MIN_AGREEMENT))
    fp32_path = fp32_path or fp32_sibling(int8_model.path)
    if fp32_path is not None:
        reference = f'the fp32 model {Path(fp32_path).name}'
        facts = int8_agreement(OnnxTileModel(fp32_path, providers=['CPUExecutionProvider']), int8_model, rgb, valid)
    else:
        reference = "the file's own float arithmetic"
        facts = kernel_agreement(int8_model, rgb, valid)
    facts.update(reference=reference, min_agreement=min_agreement, image=Path(str(image)).name,
                 cpu=cpu_int8_features(), backend=getattr(int8_model, 'backend', 'onnxruntime'))
    if facts['agreement'] < min_agreement:
        raise Int8CheckError(int8_model.path, facts)
    return facts


def check_int8_for_images(model, images: Sequence, max_tiles: int = CHECK_TILES) -> Optional[dict]:
    """:func:`check_int8_here` for the :class:`~vnseg.inference.tile_models.OnnxTileModel` ``model`` (on the backend it
    runs on) on tiles of ``images`` (:func:`check_tiles`); None when it is not an int8 model of vnseg's (nothing
    to check)."""
    if getattr(model, 'int8', None) is None:
        return None
    if model.tile is None:
        raise ValueError(f'{model.path}: an int8 model without a fixed tile size cannot be checked')
    rgb, valid, image = check_tiles(images, model.tile, max_tiles)
    return check_int8_here(model, rgb, valid, image=image)
