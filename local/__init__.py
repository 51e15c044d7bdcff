"""The local runtime behind `make run`: the deployed wiring of template.yaml, served on one machine (never deployed)."""
