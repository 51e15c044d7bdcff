"""Analytics: snapshots of published posts at fixed ages, the feedback derived from them, and the metrics."""
