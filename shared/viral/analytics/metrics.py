"""GET /api/metrics: the tenant's operational figures under the original's names and alert rules.

Names: video_generation_total{status,provider} and video_generation_cost_avg{provider} (videos of the last 24 h),
posting_total{platform,status}, reflexion_accuracy and reflexion_samples (critiques of the last 30 days; the
accuracy is 100 minus the mean absolute gap between predicted and actual virality, instead of the original's
constant 85), and collection health: analytics_snapshots_total{platform} and
analytics_last_collected_timestamp_seconds{platform}. Alerts over the last hour: video failure rate over 10%
critical, post failure rate over 5% warning, average video cost over $10 warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from viral.analytics.repository import MetricsRepository
from viral.db.uow import unit_of_work

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FORMATS = ("prometheus", "json", "alerts")
HELP = {
    "video_generation_total": "Videos made in the last 24 hours, by status and provider.",
    "video_generation_cost_avg": "Average cost in USD of the videos made in the last 24 hours, by provider.",
    "posting_total": "Posts by platform and status.",
    "reflexion_accuracy": "How well predicted virality matched actual virality over 30 days (0-100).",
    "reflexion_samples": "Critiques of the last 30 days behind reflexion_accuracy.",
    "analytics_snapshots_total": "Analytics snapshots collected, by platform.",
    "analytics_last_collected_timestamp_seconds": "When the newest snapshot was collected, by platform.",
}
VIDEO_FAILURE_RATE = 0.10
POST_FAILURE_RATE = 0.05
VIDEO_COST_LIMIT = 10.0


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)

    def wire(self, at: datetime) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "value": self.value, "timestamp": at.isoformat()}
        if self.labels:
            body["labels"] = self.labels
        return body


@dataclass(frozen=True)
class TenantMetrics:
    at: datetime
    video: list[Metric]
    posting: list[Metric]
    reflexion: list[Metric]
    collection: list[Metric]

    def all(self) -> list[Metric]:
        return [*self.video, *self.posting, *self.reflexion, *self.collection]

    def wire(self) -> dict[str, Any]:
        return {
            key: [m.wire(self.at) for m in metrics]
            for key, metrics in (
                ("video", self.video),
                ("posting", self.posting),
                ("reflexion", self.reflexion),
                ("collection", self.collection),
            )
        }


def tenant_metrics(*, now: datetime | None = None) -> TenantMetrics:
    """The bound tenant's metrics (one read-only transaction, four grouped statements)."""
    now = now or datetime.now(UTC)
    with unit_of_work() as uow:
        repository = uow.repository(MetricsRepository)
        videos = repository.videos(now - timedelta(hours=24))
        posts = repository.posts()
        predictions = repository.predictions(now - timedelta(days=30))
        snapshots = repository.snapshots()
    video = [Metric("video_generation_total", n, {"status": s, "provider": p}) for s, p, n, _, _ in videos]
    costs: dict[str, tuple[float, int]] = {}  # provider: (total cost, videos) of the costed videos
    for _, provider, _, average, costed in videos:
        if average and costed:
            total, seen = costs.get(provider, (0.0, 0))
            costs[provider] = (total + float(average) * costed, seen + costed)
    video += [
        Metric("video_generation_cost_avg", round(total / seen, 4), {"provider": p})
        for p, (total, seen) in sorted(costs.items())
    ]
    posting = [Metric("posting_total", n, {"platform": p, "status": s}) for p, s, n in posts]
    reflexion = [Metric("reflexion_samples", len(predictions))]  # 0 is a figure; an accuracy of nothing is not
    if predictions:
        error = sum(abs(predicted - actual) for predicted, actual in predictions) / len(predictions)
        reflexion.insert(0, Metric("reflexion_accuracy", round(max(0.0, 100.0 - error), 2)))
    collection = [Metric("analytics_snapshots_total", n, {"platform": p}) for p, n, _ in snapshots]
    collection += [
        Metric("analytics_last_collected_timestamp_seconds", newest.timestamp(), {"platform": p})
        for p, _, newest in snapshots
        if newest is not None
    ]
    return TenantMetrics(now, video, posting, reflexion, collection)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(metrics: TenantMetrics) -> str:
    """The text exposition format (0.0.4): HELP and TYPE for every family, samples or not (a scraper and a reader
    see what the endpoint offers even for a new tenant), then its samples."""
    families: dict[str, list[Metric]] = {name: [] for name in HELP}
    for metric in metrics.all():
        families[metric.name].append(metric)
    lines = []
    for name, samples in families.items():
        lines += [f"# HELP {name} {HELP[name]}", f"# TYPE {name} gauge"]
        for sample in samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels.items()))
            lines.append(f"{name}{{{labels}}} {sample.value:g}" if labels else f"{name} {sample.value:g}")
    return "\n".join(lines) + "\n"


def tenant_alerts(*, now: datetime | None = None) -> list[dict[str, str]]:
    """The original's three rules over the last hour."""
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=1)
    with unit_of_work() as uow:
        repository = uow.repository(MetricsRepository)
        videos = repository.videos(since)
        posts = repository.posts(since)
    alerts = []
    video_total = sum(n for _, _, n, _, _ in videos)
    video_failed = sum(n for s, _, n, _, _ in videos if s == "failed")
    if video_total and video_failed / video_total > VIDEO_FAILURE_RATE:
        alerts.append(
            {"severity": "critical", "message": f"Video failure rate is {video_failed / video_total:.1%} (over 10%)"}
        )
    post_total = sum(n for _, _, n in posts)
    post_failed = sum(n for _, s, n in posts if s == "failed")
    if post_total and post_failed / post_total > POST_FAILURE_RATE:
        alerts.append(
            {"severity": "warning", "message": f"Post failure rate is {post_failed / post_total:.1%} (over 5%)"}
        )
    costed = [(float(average), n) for _, _, _, average, n in videos if average and n]
    if costed:
        average_cost = sum(a * n for a, n in costed) / sum(n for _, n in costed)
        if average_cost > VIDEO_COST_LIMIT:
            alerts.append({"severity": "warning", "message": f"Average video cost is ${average_cost:.2f} (over $10)"})
    return alerts
