import sys

from lsgzoo.cli import main

sys.exit(main())
