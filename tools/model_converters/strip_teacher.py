"""Write a deployable, student-only checkpoint from a distillation run's checkpoint.

A thin caller of :mod:`vnseg.commands.strip_teacher` (also ``vnseg strip-teacher``): see its docstring
or ``--help``.
"""
import sys

from vnseg.commands.strip_teacher import main

if __name__ == '__main__':
    from vnseg.commands.cli import quiet_third_party_warnings, run_tool
    quiet_third_party_warnings()  # the libraries' deprecation notices are not for users
    sys.exit(run_tool(main))
