"""`python -m kubesim --kubeconfig FILE [--port N]`: see `kubesim.cli`."""

import sys

from kubesim.cli import main

sys.exit(main(sys.argv[1:]))
