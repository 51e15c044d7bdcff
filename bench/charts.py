"""Line charts for benchmark results, drawn with matplotlib's Agg renderer (no display needed)."""

from __future__ import annotations

from pathlib import Path


def line_chart(path: Path, series: dict[str, list[float]], *, title: str, x_label: str, y_label: str) -> list[str]:
    """A PNG with one line per series (x from 1), titled, with labelled axes and a legend; the legend's labels."""
    # Imported here: matplotlib costs about half a second, and only the charting benchmarks need it. Building a
    # Figure directly (no pyplot) uses the Agg canvas and never touches a GUI backend or global state.
    from matplotlib.figure import Figure as Chart

    chart = Chart(figsize=(8, 4.5), dpi=100, layout="constrained")
    axes = chart.add_subplot()
    for label, values in series.items():
        axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, linewidth=1.5, label=label)
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend()
    chart.savefig(path, format="png")
    return list(series)
