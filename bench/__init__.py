"""Benchmarks behind `make bench`: each measures the shared package against targets on a throwaway database."""
