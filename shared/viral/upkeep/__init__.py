"""Upkeep: cross-domain housekeeping schedules (the sweeper), above video, content and social."""
