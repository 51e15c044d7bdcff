"""Data access: engine, models, repositories and the tenant-bound unit of work."""
