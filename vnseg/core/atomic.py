"""Atomic file writes: a reader sees the old file (or none) or the whole new one, never a part.

Every file vnseg writes lands first in a hidden temporary file in the destination folder
(:func:`partial_path`), which then replaces the destination with ``os.replace`` (atomic on POSIX and
Windows). A crash or an error therefore never leaves a half-written output under its final name.

* :func:`atomic_output`: a ``with`` block around any writer that takes a path (GDAL, PIL, csv);
* :class:`PendingFile`: the same for a writer that stays open across calls (a raster written strip by
  strip): :meth:`PendingFile.commit` renames, :meth:`PendingFile.discard` drops;
* :func:`atomic_write_bytes`, :func:`atomic_write_text`, :func:`write_json`: whole contents at once.

Standard library only, so that it also runs where numpy does not (the GPU machine check in
``benchmarks/gpu_check.py``).
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator, Union

__all__ = ['partial_path', 'PendingFile', 'atomic_output', 'atomic_write_bytes', 'atomic_write_text',
           'write_json']

PathLike = Union[str, os.PathLike]


def partial_path(path: PathLike) -> Path:
    """Hidden temporary name next to ``path`` (same folder, so ``os.replace`` is atomic; same suffix)."""
    path = Path(path)
    return path.with_name(f'.{path.stem}.partial-{os.getpid()}{path.suffix}')


def _naming(exc: OSError, tmp: Path, path: Path) -> OSError:
    """``exc`` again, naming ``path`` when it names no file or the temporary one (a full disk, say)."""
    if exc.errno is not None and exc.filename in (None, str(tmp), tmp):
        return OSError(exc.errno, exc.strerror, str(path))
    return exc


class PendingFile:
    """A file written under :func:`partial_path` and renamed onto ``path`` when complete.

    Args:
        path: the final file; its parent folders are created.
    """

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        #: where to write (keeps the final suffix, so that writers picking a format by extension work)
        self.tmp = partial_path(self.path)

    def commit(self) -> Path:
        """Rename the temporary file onto ``path`` in one step; returns ``path``."""
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise _naming(exc, self.tmp, self.path) from exc
        return self.path

    def discard(self) -> None:
        """Remove the temporary file, if any; ``path`` is left as it was."""
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path`` in one step.

    On error the temporary file is removed and ``path`` is left untouched; an ``OSError`` that names no
    file (a full disk, say) is raised again naming ``path``. Parent folders are created.
    """
    pending = PendingFile(path)
    try:
        yield pending.tmp
        pending.commit()
    except OSError as exc:
        error = _naming(exc, pending.tmp, pending.path)
        if error is exc:
            raise
        raise error from exc
    finally:
        pending.discard()


def atomic_write_bytes(path: PathLike, data: bytes, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`). Returns the path.

    Args:
        path: the file.
        data: its whole contents.
        fsync: flush the bytes to the disk before the rename (checkpoints: a crash of the machine, not
            only of the process, leaves the old file or the whole new one).
    """
    with atomic_output(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode('utf-8'))


def write_json(path: PathLike, obj) -> Path:
    """Write ``obj`` as indented, key-sorted UTF-8 JSON, atomically (stable bytes for a given obj)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + '\n')
