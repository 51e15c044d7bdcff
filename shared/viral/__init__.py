"""Viral Dashboard: the shared package every Lambda function imports (shipped as a layer)."""
