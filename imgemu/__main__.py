"""``python -m imgemu``: the ``imgemu`` command."""

import sys

from imgemu.cli import main

sys.exit(main())
