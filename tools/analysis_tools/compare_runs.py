"""Comparison table of several runs as markdown: model, params, OEM-pretrained, distilled, mIoU,

A thin caller of :mod:`vnseg.commands.report` (also ``vnseg report``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.report import main, parse_args  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.commands.cli import quiet_third_party_warnings, run_tool
    quiet_third_party_warnings()  # the libraries' deprecation notices are not for users
    sys.exit(run_tool(main))
