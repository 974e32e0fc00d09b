"""The errors that mean "the user gave something wrong": a subject (a file, an option, a device) and a problem.

Library code raises them (or ``ValueError`` subclasses whose class sets ``user_error = True``); the
command line (:mod:`vnseg.commands.cli`) prints them as one line, ``error: <subject>: <problem>``, and
turns them into an exit status. Standard library only, so that every command can report an error before
anything heavy is imported.
"""
from __future__ import annotations

import os
from typing import Optional, Union

__all__ = ['UserError', 'OptionError', 'DataError', 'ImageReadError', 'DeviceError']

PathLike = Union[str, os.PathLike]


class UserError(ValueError):
    """A user's mistake about ``subject`` (a file, an option): the message is ``'<subject>: <problem>'``."""

    def __init__(self, subject, problem: str):
        self.subject = None if subject is None else os.fsdecode(subject) if isinstance(
            subject, (bytes, os.PathLike)) else str(subject)
        self.problem = problem
        super().__init__(f'{self.subject}: {problem}' if self.subject else problem)


class OptionError(UserError):
    """An option (the subject, e.g. ``'--tile'``) has a value the tool cannot use."""


class DataError(UserError):
    """A problem with one input file; the message always names the file (``'<file>: <problem>'``)."""

    def __init__(self, path: Optional[PathLike], problem: str):
        super().__init__(path, problem)
        self.path = self.subject


class ImageReadError(DataError, OSError):
    """An image that is missing, unreadable, too large or in an unsupported format (the message names
    the file). Both a :class:`DataError` (a ``ValueError``) and an ``OSError``: whole-scene inference
    (:mod:`vnseg.geo.raster_io`) raises it too."""


class DeviceError(UserError):
    """A torch device (the subject, as given: ``'cuda:1'``) that this machine cannot run on.

    Args:
        device: the device as the caller gave it.
        problem: what is wrong with it.
        use: the devices that would work (``'cpu'``), or None.
    """

    def __init__(self, device, problem: str, use: Optional[str] = None):
        self.device, self.reason, self.use = str(device), problem, use
        super().__init__(self.device, problem + (f'; use {use}' if use else ''))
