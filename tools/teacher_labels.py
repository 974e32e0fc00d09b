"""Cache a teacher's soft labels (class probabilities) of a dataset's scenes for distillation.

A thin caller of :mod:`vnseg.commands.teacher_labels` (also ``vnseg teacher-labels``): see its
docstring or ``--help``.
"""
import sys

from vnseg.commands.teacher_labels import main

if __name__ == '__main__':
    from vnseg.commands.cli import quiet_third_party_warnings, run_tool
    quiet_third_party_warnings()  # the libraries' deprecation notices are not for users
    sys.exit(run_tool(main))
