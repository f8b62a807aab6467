"""Command-line tools: ``python cli.py --help``. Everything lives in :mod:`guest_cli`."""

from guest_cli import main

raise SystemExit(main())
