"""Option objects from parsed command-line flags: each field is the flag of the same name.

A field ``min_area`` is ``--min-area``; a field that is on by default, ``preview``, is turned off by
``--no-preview``. So a new option is its field in the option type and its flag in the command's
parser, and nothing in between.
"""
from __future__ import annotations

import argparse
from dataclasses import fields

__all__ = ['options_from_args']


def options_from_args(option_type, args: argparse.Namespace, **given):
    """An ``option_type`` (a dataclass) whose every field comes from ``args``: ``args.NAME``, else
    ``not args.no_NAME``; ``given`` values win (what the command decided from several flags).

    Raises:
        AttributeError: a field without a flag of its name (a programming error, caught by the tests).
    """
    values = {}
    for f in fields(option_type):
        if f.name in given:
            values[f.name] = given[f.name]
        elif hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
        elif hasattr(args, f'no_{f.name}'):
            values[f.name] = not getattr(args, f'no_{f.name}')
        else:
            raise AttributeError(f'{option_type.__name__}.{f.name}: the command has no --{f.name.replace("_", "-")} '
                                 f'or --no-{f.name.replace("_", "-")} flag')
    unknown = set(given) - {f.name for f in fields(option_type)}
    if unknown:
        raise AttributeError(f'{option_type.__name__} has no field {", ".join(sorted(unknown))}')
    return option_type(**values)
