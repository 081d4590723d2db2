"""`python -m chatapp` is the `chatapp` command."""

from chatapp.cli import main

raise SystemExit(main())
