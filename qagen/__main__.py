import sys

from qagen.cli import main

sys.exit(main())
