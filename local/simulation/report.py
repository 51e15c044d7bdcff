"""The run's HTML report: one self-contained page (the charts inlined as PNG) that opens in any browser."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

REPORT_FILE = "report.html"


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def charts(days: list[dict[str, Any]]) -> dict[str, str]:
    """The four charts, each a base64 PNG: prediction error, posts, cost, and the score model's weights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = [d["day"] for d in days]
    made: dict[str, str] = {}

    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(numbers, [d["predictionError"] for d in days], marker="o", label="ours, the day's posts")
    axes.plot(numbers, [d["originalRuleError"] for d in days], marker="s", label="original app's rule, the same posts")
    axes.plot(
        numbers,
        [float("nan") if d.get("conceptError") is None else d["conceptError"] for d in days],
        linestyle="--",
        label="ours, every concept of the day on every platform",
    )
    axes.set(title="Prediction error per day", xlabel="simulated day", ylabel="mean absolute error (score points)")
    axes.grid(alpha=0.3)
    axes.legend()
    made["error"] = _png(figure)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(8, 4))
    posted = [d["posted"] for d in days]
    axes.bar(numbers, posted, label="published", color="#2ca02c")
    axes.bar(numbers, [d["failed"] for d in days], bottom=posted, label="failed", color="#d62728")
    axes.set(title="Posts per day by status", xlabel="simulated day", ylabel="posts")
    axes.legend()
    made["posts"] = _png(figure)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(numbers, [d["costUsd"] for d in days], marker="o", color="#9467bd", label="video generation cost")
    axes.set(title="Cost per day", xlabel="simulated day", ylabel="USD")
    axes.grid(alpha=0.3)
    axes.legend()
    made["cost"] = _png(figure)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(9, 5))
    names = sorted({name for d in days for name in d.get("weights", {})})
    for name in names:
        axes.plot(numbers, [d.get("weights", {}).get(name) for d in days], linewidth=1, label=name)
    axes.set(title="Score model: category weights over time", xlabel="simulated day", ylabel="weight")
    axes.grid(alpha=0.3)
    if names:
        axes.legend(fontsize=6, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    made["weights"] = _png(figure)
    plt.close(figure)
    return made


def write_report(workdir: Path, days: list[dict[str, Any]], *, options: Any, faults: dict[str, Any]) -> Path:
    images = charts(days) if days else {}
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape('' if d.get(k) is None else str(d.get(k)))}</td>"
            for k in (
                "day",
                "predictionError",
                "originalRuleError",
                "rankCorrelation",
                "conceptError",
                "posted",
                "failed",
                "costUsd",
            )
        )
        + "</tr>"
        for d in days
    )
    fault_items = "".join(
        f"<li><b>{html.escape(name)}</b>: {html.escape(str(detail))}</li>" for name, detail in sorted(faults.items())
    )
    pictures = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>' for name, data in images.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Simulated run: {html.escape(options.name)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1000px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}img{{max-width:100%}}</style></head>
<body><h1>Simulated run: {html.escape(options.name)}</h1>
<p>{len(days)} simulated days, {options.accounts} sandbox accounts, {options.posts_per_day} posts a day each,
seed {options.seed}, faults {"on" if options.faults else "off"}.</p>
{pictures}
<h2>Days</h2>
<p>Prediction error and rank correlation compare the score the product gave each of the day's posts with what the
simulated audience gives such a video on average; the concept error covers every concept of the day.</p>
<table><tr><th>day</th><th>prediction error</th><th>original rule error</th><th>rank correlation</th>
<th>concept error</th><th>posted</th><th>failed</th><th>cost (USD)</th></tr>{rows}</table>
<h2>Injected faults</h2><ul>{fault_items or "<li>none</li>"}</ul>
</body></html>
"""
    path = workdir / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    return path
