"""How far predictions are from outcomes: mean absolute error and Spearman's rank correlation (the simulation's
figures and the learning benchmark's)."""

from __future__ import annotations

import math


def mae(predicted: list[float], actual: list[float]) -> float | None:
    """Mean absolute error, rounded to 3 places (None without pairs)."""
    if not predicted:
        return None
    return round(sum(abs(p - a) for p, a in zip(predicted, actual, strict=True)) / len(predicted), 3)


def _ranks(values: list[float]) -> list[float]:
    """Ranks from 0, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2
        i = j + 1
    return result


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation, rounded to 4 places; None under 3 pairs or when a side does not vary."""
    if len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return round(cov / (sx * sy), 4) if sx and sy else None
