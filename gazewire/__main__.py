import sys

from gazewire.cli.main import main

sys.exit(main())
