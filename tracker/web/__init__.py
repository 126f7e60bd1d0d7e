"""The web front end of ``tracker serve`` (see tracker.web.app): wiring only, like tracker.cli."""
