"""Prediction grid PNG: image | ground truth | model A | model B ... for chosen or random test

A thin caller of :mod:`vnseg.commands.grid` (also ``vnseg grid``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.grid import main, parse_args  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.cli import run_tool
    sys.exit(run_tool(main))
