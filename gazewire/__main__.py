import sys

from gazewire.cli import main

sys.exit(main())
