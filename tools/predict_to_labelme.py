"""Pre-label images for AnyLabeling / labelme with a trained model (labellers correct instead of draw).

A thin caller of :mod:`vnseg.commands.prelabel` (also ``vnseg prelabel``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.prelabel import main, parse_args  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.cli import run_tool
    sys.exit(run_tool(main))
