"""Turning the reminder policy and the clock into jobs: plain job functions, and the scheduler that calls them."""
