"""The `tracker` command line: the one place that wires tracker, schedules and notifications."""
