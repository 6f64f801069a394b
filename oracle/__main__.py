"""`python -m convt_oracle`: the `convt-oracle` command."""

import sys

from convt_oracle.harness.cli import main

sys.exit(main())
