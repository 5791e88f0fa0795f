"""``python -m convsweep``: the command line."""

from convsweep.cli import main

main()
