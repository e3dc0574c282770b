import sys

from fixg.cli import main

sys.exit(main())
