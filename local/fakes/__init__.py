"""Fake outside services that `make run` serves locally (clearly labelled as fakes) and the tests use."""
