"""Stratified random sample of points on a class map -> GeoPackage review form for QGIS (+ project, chips).

A thin caller of :mod:`vnseg.commands.sample` (also ``vnseg sample``): see its docstring or ``--help``.
"""
import sys

from vnseg.commands.sample import main, parse_args  # noqa: F401  (the tool's interface)

if __name__ == '__main__':
    from vnseg.commands.cli import quiet_third_party_warnings, run_tool
    quiet_third_party_warnings()  # the libraries' deprecation notices are not for users
    sys.exit(run_tool(main))
