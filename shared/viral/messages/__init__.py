"""Versioned message bodies for the queues (one sample per version in events/)."""
