"""Allow ``python -m fleetproof``."""

from fleetproof.cli import main

raise SystemExit(main())
