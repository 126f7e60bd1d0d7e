"""Turning the reminder policy and the clock into scheduled jobs (APScheduler 3.11). Not built yet: see issue 4."""
