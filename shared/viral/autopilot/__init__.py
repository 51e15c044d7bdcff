"""The autopilot: each day the best of the daily concepts are rendered and posted, with nobody clicking."""
