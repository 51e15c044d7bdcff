"""Use cases: plain functions over typed inputs, each running inside the current tenant's unit of work."""
