"""``python -m gazewire.cli``: the same as the ``gazewire`` command."""

import sys

from gazewire.cli.main import main

sys.exit(main())
