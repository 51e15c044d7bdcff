"""Outbound webhooks: tenants' endpoints, the event outbox, and signed deliveries (Standard Webhooks)."""
