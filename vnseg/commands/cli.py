"""What every vnseg tool shares at its command line: one-line errors for a user's mistakes.

A tool's ``main(argv)`` raises; :func:`run_tool` turns the exceptions that mean "the user gave
something wrong" into ONE line on stderr and a non-zero exit status, with no traceback::

    error: work_dirs/x/iter_10.pth: is a text file, not a PyTorch checkpoint (.pth)

The line is always ``error: <subject>: <problem>``, the subject being the file (or the option)
at fault. Anything else -- a bug -- keeps its traceback. Tools end with::

    if __name__ == '__main__':
        sys.exit(run_tool(main))

and build their parser with :class:`ArgumentParser`, whose usage errors are one line too.

User mistakes recognised (:func:`describe_user_error`):

* :class:`vnseg.core.errors.UserError` and its subclasses -- ``DataError`` (bad data files,
  checkpoints, configs), ``OptionError`` (a bad option value) -- whose message reads
  ``<subject>: <problem>``, and exceptions whose class sets ``user_error = True`` (a bad label map);
* a ``DeviceError`` of the library (a device this machine cannot run on), named by the flag every command
  gives it, ``--device``;
* ``OSError`` naming a file (missing, unreadable, a folder where a file is expected, no space
  left, read-only file system, file too large), e.g. an unwritable output folder or a full disk;
* GDAL/rasterio I/O errors (their message names the file).

Third-party warnings: the libraries under vnseg warn their own developers (mmseg's ``build_loss``
would be deprecated soon, ``avg_non_ignore``, mmengine's and torch's deprecations, setuptools' notice
about ``pkg_resources``); a vnseg user can do nothing about them. The geospatial libraries warn about
what vnseg already handles and reports: an image without georeferencing is mapped on its pixel grid
(rasterio's ``NotGeoreferencedWarning``) and its polygon layers have no CRS (pyogrio's "'crs' was not
provided"); the report and the area table say so, in pixel units. :func:`quiet_third_party_warnings`
hides these (:data:`THIRD_PARTY_MODULES`, :data:`THIRD_PARTY_MESSAGES`), all but ``RuntimeWarning``
(numerical trouble stays visible). Only the command-line entry points call it (the ``if __name__ ==
'__main__'`` blocks of ``tools/*.py``, the ``vnseg`` console command and the demo's ``run_demo.py``),
never an import: tests and library users keep seeing every warning. vnseg's own warnings (e.g. a
grayscale image converted) are still shown.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Callable, Optional, Sequence

from vnseg.core.errors import DeviceError, OptionError, UserError

__all__ = ['ArgumentParser', 'device_option_error', 'describe_user_error', 'run_tool', 'EXIT_USER_ERROR',
           'EXIT_USAGE', 'quiet_third_party_warnings', 'THIRD_PARTY_MODULES']

#: Exit status of a tool stopped by a user's mistake (a file, a checkpoint, an output folder).
EXIT_USER_ERROR = 1
#: Exit status of a command line argparse refuses (unknown option, value of the wrong type).
EXIT_USAGE = 2
#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130

#: ``OSError`` numbers that are the user's environment, not a bug, even without a file name.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                       errno.EPERM, errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EEXIST,
                       errno.EIO}

_PROBLEMS = {
    errno.ENOENT: 'file or folder not found',
    errno.EISDIR: 'is a folder, expected a file',
    errno.ENOTDIR: 'a part of this path is a file, expected a folder',
    errno.EEXIST: 'already exists and is not a folder',
    errno.EACCES: 'permission denied',
    errno.EPERM: 'operation not permitted',
    errno.ENOSPC: 'no space left on the device (disk full); nothing was written under this name',
    errno.EDQUOT: 'disk quota exceeded; nothing was written under this name',
    errno.EFBIG: 'file too large for this file system or the file size limit; nothing was '
                 'written under this name',
    errno.EROFS: 'read-only file system',
    errno.EIO: 'input/output error',
}


#: Packages whose warnings :func:`quiet_third_party_warnings` hides (and their submodules).
THIRD_PARTY_MODULES = ('mmseg', 'mmengine', 'mmcv', 'mmpretrain', 'torch', 'torchvision')

#: Warnings hidden by their message (``UserWarning`` s): raised on a library's behalf but attributed elsewhere, or
#: raised by a library whose other warnings may matter to the user.
THIRD_PARTY_MESSAGES = (
    # setuptools, when mmengine (mmengine.utils.package_utils) imports pkg_resources; attributed to importlib
    r'pkg_resources is deprecated as an API',
    # rasterio's NotGeoreferencedWarning: vnseg maps such an image on its pixel grid and says so
    r'Dataset has no geotransform, gcps, or rpcs',
    # pyogrio writing a layer of such an image (attributed to vnseg's writer): no CRS to give
    r"'crs' was not provided",
)

#: Set to 1 to see the third-party warnings at the command line too.
SHOW_WARNINGS_ENV = 'VNSEG_SHOW_WARNINGS'


def quiet_third_party_warnings(modules: Sequence[str] = THIRD_PARTY_MODULES) -> bool:
    """Hide the warnings but ``RuntimeWarning`` raised from ``modules`` (``warnings`` filters, this process).

    A warning counts as raised from a module when Python attributes it to that module (the frame
    ``stacklevel`` points at: mmseg's ``warnings.warn(...)`` in ``mmseg/models/builder.py`` is
    ``mmseg.models.builder``). Does nothing, and returns False, when the user chose warning filters
    (``python -W ...``, ``PYTHONWARNINGS``) or set ``VNSEG_SHOW_WARNINGS=1``; returns True when the
    filters were installed.
    """
    import re
    import warnings
    if sys.warnoptions or os.environ.get(SHOW_WARNINGS_ENV, '').strip() not in ('', '0'):
        return False
    pattern = r'(%s)(\.|$)' % '|'.join(re.escape(m) for m in modules)
    warnings.filterwarnings('ignore', category=Warning, module=pattern)
    warnings.filterwarnings('default', category=RuntimeWarning, module=pattern)  # (checked first) kept
    for message in THIRD_PARTY_MESSAGES:
        warnings.filterwarnings('ignore', message=message, category=UserWarning)
    return True


def _os_error_line(exc: OSError) -> Optional[str]:
    filename = getattr(exc, 'filename', None)
    if filename is None and exc.errno not in _ENVIRONMENT_ERRNOS:
        return None
    problem = _PROBLEMS.get(exc.errno) or exc.strerror or str(exc)
    if filename is None:
        return problem
    filename2 = getattr(exc, 'filename2', None)
    subject = os.fsdecode(filename) + (f' -> {os.fsdecode(filename2)}' if filename2 else '')
    return f'{subject}: {problem}'


def _is_gdal_error(exc: BaseException) -> bool:
    """A rasterio/GDAL error (only when rasterio is already imported: the check imports nothing)."""
    errors, gdal = sys.modules.get('rasterio.errors'), sys.modules.get('rasterio._err')
    kinds = tuple(k for k in (getattr(errors, 'RasterioError', None), getattr(gdal, 'CPLE_BaseError', None))
                  if isinstance(k, type))
    return bool(kinds) and isinstance(exc, kinds)


def describe_user_error(exc: BaseException) -> Optional[str]:
    """``'<subject>: <problem>'`` when ``exc`` is a user's mistake, else None (a bug)."""
    if isinstance(exc, DeviceError):
        return str(device_option_error(exc))
    if isinstance(exc, UserError) or getattr(exc, 'user_error', False):
        return str(exc)
    if _is_gdal_error(exc):
        return ' '.join(str(exc).split())
    if isinstance(exc, OSError) and exc.errno is not None:
        return _os_error_line(exc)
    if isinstance(exc, OSError) and type(exc).__module__.startswith('vnseg'):
        return str(exc)  # vnseg's own OSError subclasses (e.g. ImageReadError) name the file
    return None


def device_option_error(exc: DeviceError) -> OptionError:
    """``exc`` as the ``--device`` flag's error: ``--device: cuda:0 asked for, ...; use --device cpu``."""
    return OptionError('--device', f'{exc.device} {exc.reason}' + (f'; use --device {exc.use}' if exc.use else ''))


def run_tool(main: Callable[..., Optional[int]], argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main(argv)`` and return its exit status; a user's mistake becomes one line on stderr.

    Returns ``main``'s own status when it is an int (anything else -> 0), :data:`EXIT_USER_ERROR` after a user's
    mistake, :data:`EXIT_INTERRUPTED` after Ctrl-C. Other exceptions propagate (with their
    traceback): they are bugs to report.
    """
    try:
        status = main(argv) if argv is not None else main()
    except KeyboardInterrupt:
        print('error: interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # (sorted into user mistakes and bugs below)
        line = describe_user_error(exc)
        if line is None:
            raise
        print(f'error: {line}', file=sys.stderr)
        return EXIT_USER_ERROR
    return status if isinstance(status, int) else 0


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line: ``error: --tile: ...``."""

    def error(self, message):
        if message.startswith('argument '):
            subject, _, problem = message[len('argument '):].partition(': ')
            subject = subject.split('/')[-1]  # '-o/--out-dir' -> '--out-dir'
            message = f'{subject}: {problem}' if problem else subject
        self.exit(EXIT_USAGE, f'error: {message} (see {self.prog} --help)\n')


def _whole_number(text: str, minimum: int, rule: str) -> int:
    """``text`` as an int >= ``minimum``; ``rule`` words the bound in the error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f'must be {rule}, got {value}')
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _whole_number(text, 1, 'at least 1')


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _whole_number(text, 0, '0 or more')


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
    if not value >= 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'must be a finite number >= 0, got {text}')
    return value


def check_output_dir(path, option: str = '--out-dir') -> None:
    """Fail early, before any work, when ``path`` cannot become an output folder.

    Raises :class:`OptionError` when ``path`` (or one of its parents) is an existing file, or the
    nearest existing parent is not writable.
    """
    path = os.path.abspath(os.fspath(path))
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise OptionError(option, f'{path} cannot be an output folder: {probe} is a file')
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OptionError(option, f'{path} cannot be an output folder: {probe} is not writable')
