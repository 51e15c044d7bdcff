"""Pydantic models that cross boundaries (HTTP, queues, storage API): camelCase on the wire, snake_case in Python."""
