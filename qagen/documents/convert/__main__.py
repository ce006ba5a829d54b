"""The converter's worker process, started by ``ConverterProcess`` as ``python -m qagen.documents.convert FD``.

FD is the worker's end of the socket pair it is sent jobs on.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from qagen.documents.convert.worker import serve

if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
