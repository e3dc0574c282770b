"""Entry point of a spawned archiver process: ``python -m fixg.archive._child --settings JSON``."""

from __future__ import annotations

import sys

from fixg.archive.service import main

if __name__ == "__main__":
    sys.exit(main())
