"""``python -m vnseg COMMAND ...``: the same as the ``vnseg`` console command."""
import sys

from vnseg.commands import main

sys.exit(main())
