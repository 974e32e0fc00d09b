"""Train a segmentor from a config, the MMEngine way.

A thin caller of :mod:`vnseg.commands.train` (also ``vnseg train``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.train import main, parse_args  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.cli import run_tool
    sys.exit(run_tool(main))
