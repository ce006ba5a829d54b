"""``python -m qagen`` and the ``qagen`` console script (both call ``entry``).

A Ctrl-C can come while qagen is still starting, before ``main``'s error boundary exists: while
``qagen.cli`` and what it needs are imported. ``entry`` turns that into the same one line and exit
code as a Ctrl-C later on, instead of a traceback of the import machinery. It imports nothing of
qagen before its ``try``, and ``import qagen`` itself loads almost nothing, so what is left
unguarded is Python's own start-up.
"""

import sys


def entry() -> int:
    try:
        from qagen.cli import main

        return main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130  # qagen.cli.EXIT_INTERRUPTED, not imported here: importing is what was interrupted


if __name__ == "__main__":
    sys.exit(entry())
