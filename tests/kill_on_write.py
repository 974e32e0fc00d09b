"""Run a Python script and SIGKILL it at the moment it starts writing a chosen file.

    python tests/kill_on_write.py PATTERN NTH SCRIPT [ARGS ...]

The NTH time the script opens, for writing, a file whose name matches the regular expression
PATTERN, the process kills itself (SIGKILL, as the OOM killer or a pre-empted job would) just
before the first ``write`` into that file: the file exists, created or truncated, but holds none
of the new bytes. Deterministic (no sleeps, no timing): a Python audit hook sees the ``open``, a
profile hook sees the ``write`` call. Tests use it to kill training in the middle of a save.
"""
import os
import re
import runpy
import signal
import sys
import threading


def arm(pattern: str, nth: int) -> None:
    """Install the hooks in this process (see the module docstring)."""
    regex = re.compile(pattern)
    opened = []

    def kill_at_write(frame, event, arg):
        if event != 'c_call' or getattr(arg, '__name__', None) != 'write':
            return
        name = getattr(getattr(arg, '__self__', None), 'name', None)
        if isinstance(name, (str, bytes, os.PathLike)) and \
                regex.search(os.path.basename(os.fsdecode(name))):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_open(event, args):
        if event != 'open' or len(args) < 2:
            return
        path, mode = args[0], args[1]
        if not isinstance(path, (str, bytes, os.PathLike)) or not mode \
                or not any(flag in mode for flag in 'wax+'):
            return
        if regex.search(os.path.basename(os.fsdecode(path))):
            opened.append(path)
            if len(opened) == nth:
                threading.setprofile(kill_at_write)
                sys.setprofile(kill_at_write)

    sys.addaudithook(on_open)


if __name__ == '__main__':
    pattern, nth, script, *rest = sys.argv[1:]
    arm(pattern, int(nth))
    sys.argv = [script, *rest]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name='__main__')
