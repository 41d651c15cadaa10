"""Allow ``python -m fleetproof``."""

from fleetproof.lifeline import follow_parent

# First of all: a child of `fleetproof demo` stops when the demo is gone (see fleetproof.lifeline).
follow_parent()

from fleetproof.cli import main  # noqa: E402

raise SystemExit(main())
