"""The image an annotation labels: resolving ``imagePath`` safely, reading its size or pixels
(``imageData`` first), and checking them against the declared ``imageHeight``/``imageWidth``."""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Optional, Tuple

from vnseg.core.errors import DataError
from vnseg.data.io import DEFAULT_MAX_PIXELS, LoadedImage, decode_base64_image, read_image, read_image_size
from vnseg.data.labelme.schema import Annotation, AnnotationError, PathLike, UnsafePathError

_WINDOWS_ABS = re.compile(r'^[A-Za-z]:/|^//')


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def resolve_image_path(ann: Annotation, root: Optional[PathLike] = None) -> Path:
    """Resolve ``imagePath`` (relative to the JSON file; backslashes accepted) to a file path.

    An absolute path (POSIX or Windows ``C:\\...``) that does not exist here falls back to the same
    file name next to the JSON. With ``root``, the resolved path (symlinks followed) must stay
    inside ``root``.

    Raises:
        AnnotationError: no ``imagePath``.
        UnsafePathError: the path escapes ``root``.
    """
    if not ann.image_path:
        raise AnnotationError(ann.path, 'no "imagePath" and no "imageData": cannot find the image')
    norm = ann.image_path.replace('\\', '/')
    json_dir = ann.path.parent
    if _WINDOWS_ABS.match(norm) or norm.startswith('/'):
        candidate = Path(norm)
        if _WINDOWS_ABS.match(norm) or not candidate.exists():
            candidate = json_dir / PurePosixPath(norm).name
    else:
        candidate = json_dir / norm
    resolved = candidate.resolve()
    if root is not None:
        root_resolved = Path(root).resolve()
        if not _is_within(resolved, root_resolved):
            raise UnsafePathError(ann.path, f'imagePath {ann.image_path!r} resolves to {resolved}, '
                                            f'outside the source folder {root_resolved}')
    return resolved


def _check_size(ann: Annotation, actual: Tuple[int, int], where: str) -> None:
    declared = ann.declared_size
    if declared is not None and tuple(declared) != tuple(actual):
        raise AnnotationError(ann.path, f'size mismatch: JSON declares imageHeight x imageWidth = '
                                        f'{declared[0]}x{declared[1]} but the {where} is {actual[0]}x{actual[1]}')


def annotation_image_size(ann: Annotation, root: Optional[PathLike] = None,
                          max_pixels: int = DEFAULT_MAX_PIXELS, require_image: bool = True) -> Tuple[int, int]:
    """(H, W) of the annotated image, read from image headers only.

    Uses ``imageData`` when present, else the file at ``imagePath``; checks it against the declared
    size. With ``require_image=False`` a missing image falls back to the declared size.
    """
    if ann.image_data:
        size = decode_base64_image(ann.image_data, path=f'{ann.path} [imageData]',
                                   max_pixels=max_pixels, header_only=True)
        _check_size(ann, size, 'embedded imageData')
        return size
    try:
        image_path = resolve_image_path(ann, root)
        size = read_image_size(image_path, max_pixels)
    except UnsafePathError:
        raise
    except DataError as e:
        if not require_image and ann.declared_size is not None:
            return ann.declared_size
        raise AnnotationError(ann.path, f'image for imagePath {ann.image_path!r}: {e}') from e
    _check_size(ann, size, f'image {image_path.name}')
    return size


def load_annotation_image(ann: Annotation, root: Optional[PathLike] = None,
                          max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode the annotated image as 8-bit RGB (``imageData`` first, else ``imagePath``).

    Raises :class:`AnnotationError` naming the JSON for a missing/unreadable image, an unsafe path,
    or a size that differs from ``imageHeight``/``imageWidth``.
    """
    if ann.image_data:
        image = decode_base64_image(ann.image_data, path=f'{ann.path} [imageData]', max_pixels=max_pixels)
        _check_size(ann, image.shape, 'embedded imageData')
        return image
    image_path = resolve_image_path(ann, root)
    try:
        image = read_image(image_path, max_pixels)
    except DataError as e:
        raise AnnotationError(ann.path, f'image for imagePath {ann.image_path!r}: {e}') from e
    _check_size(ann, image.shape, f'image {image_path.name}')
    return image
