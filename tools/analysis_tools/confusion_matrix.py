"""Confusion matrix of a model on the test split: PNG (row-normalised %, class names) + CSVs.

A thin caller of :mod:`vnseg.commands.confusion` (also ``vnseg confusion``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.confusion import main, parse_args  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.cli import run_tool
    sys.exit(run_tool(main))
