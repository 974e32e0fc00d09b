"""The study's parameter table for vnseg configs: our parameter count and GFLOPs beside the study's.

A thin caller of :mod:`vnseg.commands.params` (also ``vnseg params``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.params import main, parse_args  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.commands.cli import quiet_third_party_warnings, run_tool
    quiet_third_party_warnings()  # the libraries' deprecation notices are not for users
    sys.exit(run_tool(main))
