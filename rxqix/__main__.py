"""``python -m rxqix``: the same as the ``rxqix`` command."""

from rxqix.cli import main

raise SystemExit(main())
