"""Export a trained segmentor to ONNX for ONNX Runtime and the QGIS Deepness plugin.

A thin caller of :mod:`vnseg.commands.export` (also ``vnseg export``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.export import main, parse_args  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.cli import run_tool
    sys.exit(run_tool(main))
