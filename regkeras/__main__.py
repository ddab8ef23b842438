"""``python -m regkeras`` runs the command line (see regkeras.cli)."""

import sys

from regkeras.cli import main

sys.exit(main())
