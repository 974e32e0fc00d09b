"""import argparse

A thin caller of :mod:`vnseg.commands.masks` (also ``vnseg masks``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.masks import main, build_parser  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.commands.cli import quiet_third_party_warnings, run_tool
    quiet_third_party_warnings()  # the libraries' deprecation notices are not for users
    sys.exit(run_tool(main))
