"""The HTTP API served by the Api function: one resolver, a router per resource group."""
