"""Command-line tools: ``python cli.py --help``. Everything lives in :mod:`shared.cli`."""

from shared.cli import main

raise SystemExit(main())
