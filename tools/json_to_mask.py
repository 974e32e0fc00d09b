"""import argparse

A thin caller of :mod:`vnseg.commands.masks` (also ``vnseg masks``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.masks import main, build_parser  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.cli import run_tool
    sys.exit(run_tool(main))
