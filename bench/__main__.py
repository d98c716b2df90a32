"""`python -m bench [SCENARIO...] [--size N] [--quick] [--peer ours|kopf|both] [--out FILE]`: see bench.cli."""

import sys

from bench.cli import main

sys.exit(main(sys.argv[1:]))
