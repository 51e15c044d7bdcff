"""A simulated run of the autonomous business: days of the deployed code paths on a simulated clock.

One tenant with sandbox accounts and the autopilot on. Every simulated hour the template's schedules that came
due fire and the queues are drained into their functions (local.simulation.stack); while work is waiting in a
queue (a delayed check, a failed message), the clock moves in minutes instead. So each day: the 08:00 daily
generation makes concepts, the autopilot renders the best and posts them to the accounts, the hourly analytics
collection snapshots each post at its ages, the derived feedback is critiqued, and the learner adjusts the score
model every six hours. Nothing here calls the product's services directly except to set the tenant up as a user
would (the API) and to read the results (SQL as the database owner, outside the product).

The run keeps its database, its state and its report under .local/simulations/<name>/ (the name comes from the
arguments), and saves its state after every simulated hour: started again with the same arguments, it goes on
from the last saved hour. Work lost with the stop (queue messages live in the in-memory AWS emulation) is found
again by the system's own sweeper, as it would be after an outage.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from local.fakes.video_vendors import FakeLuma, Job
from local.simulation.audience import OriginalRule, SimulatedAudience, breakdown_of
from local.simulation.faults import Faults
from local.simulation.measures import mae, spearman

log = logging.getLogger("local.simulation")

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SIMULATIONS = REPO / ".local" / "simulations"
START = datetime(2027, 1, 4, tzinfo=UTC)  # a Monday; fixed, so a seeded run repeats
STEP = timedelta(hours=1)
BUSY_STEP = timedelta(minutes=2)
MAX_BUSY_STEPS = 90  # per hour: after that the waiting work is left for the next hour (a retry far ahead)
PLATFORMS = ("tiktok", "youtube-shorts", "instagram-reels")
STATE_FILE = "state.json"
SANDBOX_FILE = "sandbox.json"
VENDOR_FILE = "vendor.json"


@dataclass(frozen=True)
class Options:
    days: int
    tenant: str = "Simulated creator"
    seed: int = 7
    faults: bool = False
    accounts: int = 3
    posts_per_day: int = 3  # per account

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.tenant.lower()).strip("-")[:40] or "tenant"
        return f"{slug}-seed{self.seed}-{self.accounts}x{self.posts_per_day}{'-faults' if self.faults else ''}"


@dataclass
class DayResult:
    """One simulated day. The prediction figures are about the day's posts: the score the product gave each
    posted video against what the audience gives such a video on average (`pairs`: predicted, expected, the
    original rule's prediction); the concept figures cover every concept of the day on every platform posted to."""

    day: int
    predictionError: float | None  # noqa: N815 - the wire name
    rankCorrelation: float | None  # noqa: N815
    originalRuleError: float | None  # noqa: N815
    conceptError: float | None  # noqa: N815
    conceptRankCorrelation: float | None  # noqa: N815
    pairs: list[list[float]]
    concepts: int
    posted: int
    failed: int
    costUsd: float  # noqa: N815
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class State:
    now: str
    tenant_id: str = ""
    api_key: str = ""
    days: list[dict[str, Any]] = field(default_factory=list)
    original_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    fed_feedback: list[str] = field(default_factory=list)
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: int = 0


class Simulation:
    def __init__(self, options: Options, *, root: Path = SIMULATIONS) -> None:
        self.options = options
        self.workdir = root / options.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.audience = SimulatedAudience(options.seed)
        self.faults = Faults(enabled=options.faults)
        self.state = self._load_state()
        self.original = OriginalRule()
        if self.state.original_weights:
            self.original.weights = self.state.original_weights
        self.faults.injected = dict(self.state.faults)
        self._concepts: dict[str, tuple[str, dict[str, Any], str]] = {}  # post id -> (category, breakdown, platform)
        self._owner: Any = None  # the run's one connection as the database owner (reads outside the product)

    # --- state ---------------------------------------------------------------------------------------------

    def _load_state(self) -> State:
        path = self.workdir / STATE_FILE
        if path.is_file():
            return State(**json.loads(path.read_text(encoding="utf-8")))
        return State(now=START.isoformat())

    def _save_state(self, network: Any) -> None:
        self.state.original_weights = self.original.weights
        self.state.faults = self.faults.injected
        self._write(SANDBOX_FILE, network.state())
        self._write(STATE_FILE, asdict(self.state))

    def _write(self, name: str, value: Any) -> None:
        partial = self.workdir / f"{name}.tmp"
        partial.write_text(json.dumps(value, default=str), encoding="utf-8")
        os.replace(partial, self.workdir / name)  # whole or not at all, whenever the run is stopped

    def _read(self, name: str) -> Any:
        path = self.workdir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    # --- the environment -----------------------------------------------------------------------------------

    def _environment(self, luma_url: str | None) -> None:
        """What the functions see besides the template's variables (set before anything reads the settings)."""
        values = {
            "STAGE": "local",
            "EMBEDDED_PG_DATA": str(self.workdir / "pgdata"),
            "SANDBOX_PROCESSING_S": "60",
            "POST_POLL_INTERVAL_S": "60",
            "VIDEO_STORYBOARD_FPS": "1",  # the shortest valid videos: a run makes hundreds
            "SOCIAL_REDIRECT_BASE": "http://simulation.invalid",
            "SANDBOX_AUTHORIZE_URL": "http://simulation.invalid/_local/sandbox/authorize",
            "POWERTOOLS_METRICS_NAMESPACE": "ViralDashboardSimulation",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "LOG_LEVEL": "WARNING",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        if luma_url:  # faults runs: a video vendor to fail, the offline renderer behind it
            from local.fakes.video_vendors import KEY

            values["LUMA_API_KEY"] = KEY
            values["LUMA_BASE_URL"] = luma_url
            order = json.dumps(["luma", "storyboard"])
            values["VIDEO_PROVIDER_TIERS"] = f'{{"premium": {order}, "standard": {order}, "economy": {order}}}'
        else:
            values["VIDEO_PROVIDER_TIERS"] = (
                '{"premium": ["storyboard"], "standard": ["storyboard"], "economy": ["storyboard"]}'
            )
        os.environ.update(values)
        from viral.aws import reset_clients
        from viral.settings import get_settings

        get_settings.cache_clear()
        reset_clients()

    def _database(self) -> Any:
        from viral.db.engine import database_url, reset_engine
        from viral.db.migrate import upgrade
        from viral.settings import get_settings

        from local.database import WEBHOOK_KEY_FILE, ensure_webhook_secret_key
        from local.simulation.clock import install_database_clock

        settings = get_settings()
        url = database_url(settings)
        if settings.database_url:  # another server: the run gets a database of its own there
            url = _own_database(url, f"sim_{uuid.uuid5(uuid.NAMESPACE_URL, self.options.name).hex[:16]}")
            os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
            get_settings.cache_clear()
        upgrade(url, get_settings())
        install_database_clock(url)
        ensure_webhook_secret_key(self.workdir / WEBHOOK_KEY_FILE)
        get_settings.cache_clear()
        reset_engine()
        return url

    # --- the tenant, set up as a user would ----------------------------------------------------------------

    def _set_up_tenant(self, stack: Any, network: Any) -> None:
        from viral.billing.service import set_plan
        from viral.identity.auth import create_api_key
        from viral.identity.tenants import create_tenant
        from viral.tenancy import tenant_scope

        tenant = create_tenant(self.options.tenant)
        with tenant_scope(tenant.id):
            set_plan("PRO")
            key = create_api_key(name="simulation", scopes=("read", "write", "generate", "admin")).secret
        # The run makes months of a Pro plan's videos in a month: its allowances are raised (as the owner).
        self._owner.run(
            "UPDATE tenants SET monthly_quota = 100000, monthly_video_quota = 100000 WHERE id = :id", id=str(tenant.id)
        )
        self.state.tenant_id, self.state.api_key = str(tenant.id), key
        for index in range(self.options.accounts):
            self._connect_account(stack, network, f"creator-{index + 1}")
        self._api(stack, "PUT", "/api/user/settings", {"dailyGeneration": True})
        self._api(
            stack,
            "PUT",
            "/api/autopilot",
            {"enabled": True, "videosPerDay": self.options.accounts * self.options.posts_per_day},
        )

    def _api(self, stack: Any, method: str, target: str, body: Any = None) -> Any:
        response = stack.request(method, target, body=body, headers={"Authorization": f"Bearer {self.state.api_key}"})
        if response.status >= 400:
            raise RuntimeError(f"{method} {target} answered {response.status}: {response.body[:500]!r}")
        return json.loads(response.body) if response.body else None

    def _connect_account(self, stack: Any, network: Any, user: str) -> None:
        """The consent flow: the auth URL, the platform's consent (agreed at once), the callback with the cookie."""
        response = stack.request(
            "GET", "/api/social/auth-url?platform=sandbox", headers={"Authorization": f"Bearer {self.state.api_key}"}
        )
        started = json.loads(response.body)
        cookie = next(v for k, v in response.headers if k.lower() == "set-cookie").split(";", 1)[0]
        query = {k: v[0] for k, v in parse_qs(urlparse(started["authUrl"]).query).items()}
        code = network.grant_code(redirect_uri=query["redirect_uri"], code_challenge=query["code_challenge"], user=user)
        back = stack.request(
            "GET",
            f"/api/social/connect/sandbox?{urlencode({'code': code, 'state': query['state']})}",
            headers={"Cookie": cookie},
        )
        location = next((v for k, v in back.headers if k.lower() == "location"), "")
        if "success=sandbox" not in location:
            raise RuntimeError(f"connecting {user} failed: {back.status} {location}")

    # --- the audience's side of the sandbox ----------------------------------------------------------------

    def _audience_hook(self) -> Any:
        def metrics(post_ref: str, published_at: float, now: float) -> dict[str, Any]:
            known = self._concepts.get(post_ref)
            if known is None:
                rows = self._owner.run(
                    """SELECT c.category, c.data, v.platform FROM social_posts p
                             JOIN videos v ON v.tenant_id = p.tenant_id AND v.id = p.video_id
                             JOIN concepts c ON c.tenant_id = v.tenant_id AND c.id = v.concept_id
                            WHERE p.id = :id""",
                    id=post_ref,
                )
                if not rows:
                    return {}
                category, data, platform = rows[0]
                data = json.loads(data) if isinstance(data, str) else data
                breakdown = breakdown_of(data, platform)
                if breakdown is None:
                    return {}
                known = (category, breakdown, platform)
                self._concepts[post_ref] = known
            category, breakdown, platform = known
            score = self.audience.observed_score(post_ref, breakdown, category, platform)
            return self.audience.figures(score, (now - published_at) / 3600)

        return metrics

    # --- the run -------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from local.simulation.clock import SimulatedClock, owner_connection
        from local.simulation.stack import SimulatedStack

        started = time.monotonic()
        self.state.runs += 1
        with contextlib.ExitStack() as exits:
            luma = _DurableLuma() if self.options.faults else None
            if luma is not None:
                exits.enter_context(luma.running())
            if luma is not None:
                luma.restore(self._read(VENDOR_FILE) or [])  # what the vendor accepted before a stop stays on its books
            stack = exits.enter_context(SimulatedStack(TEMPLATE))
            # After the stack: its start sets the template's variables, which these refine.
            self._environment(luma.base_url if luma else None)
            url = self._database()
            self._owner = owner_connection(url)
            exits.callback(self._owner.close)
            from viral.social.platforms.sandbox import reset_sandbox, sandbox_network

            reset_sandbox()
            network = sandbox_network()
            saved = self._read(SANDBOX_FILE)
            if saved:
                network.restore(saved)
            network.audience = self._audience_hook()
            # The platform and the vendor keep what they know across a stop, as real ones do: saved on each change.
            network.on_change = lambda: self._write(SANDBOX_FILE, network.state())
            if luma is not None:
                luma.on_change = lambda: self._write(VENDOR_FILE, sorted(luma.jobs))
            stack.delivery_hook = self.faults.delivery_hook
            clock = exits.enter_context(SimulatedClock(url, datetime.fromisoformat(self.state.now)))
            if not self.state.tenant_id:
                self._set_up_tenant(stack, network)
                self._save_state(network)
            end = START + timedelta(days=self.options.days)
            while clock.now() < end - timedelta(seconds=1):
                self._hour(stack, clock, network, luma)
            return self._result(stack, network, luma, time.monotonic() - started)

    def _hour(self, stack: Any, clock: Any, network: Any, luma: Any) -> None:
        since = datetime.fromisoformat(self.state.now)
        until = (since.replace(minute=0, second=0, microsecond=0)) + STEP
        clock.move_to(until)
        day, hour = (until - START).days, until.hour
        for name in self.faults.due(day, hour):
            self._inject(name, network, luma)
        stack.fire_due(since, until)
        stack.drain()
        moment = until
        for _ in range(MAX_BUSY_STEPS):
            if not stack.waiting():
                break
            previous, moment = moment, moment + BUSY_STEP
            if moment >= until + STEP:
                break
            clock.move_to(moment)
            stack.fire_due(previous, moment)
            stack.drain()
        self.state.now = clock.now().isoformat()
        if until.hour == 0 and until > START:
            self._close_day((until - START).days - 1)
        self._save_state(network)

    def _inject(self, name: str, network: Any, luma: Any) -> None:
        """Inject one due fault. Armed faults (a kill, a duplicate) count as injected when they strike; until then
        they are armed again each hour (arming is idempotent)."""
        if name == "vendor-5xx-after-accept":
            self.faults.vendor_lost_answer(luma)
        elif name == "platform-429":
            self.faults.platform_429(network)
        elif name == "token-expired":
            self.faults.token_expired(network)
        elif name == "worker-killed":
            self.faults.arm_worker_kill(network)
        elif name == "duplicate-delivery":
            self.faults.arm_duplicate()

    # --- measuring -----------------------------------------------------------------------------------------

    def _close_day(self, day: int) -> None:
        """The day's figures, read as the owner: the model's error on the day's concepts (against what the
        audience would give), the original rule's on the same concepts, posts, cost; then the original rule
        learns from the feedback the product derived that day."""
        begin, end = START + timedelta(days=day), START + timedelta(days=day + 1)
        connection = self._owner
        tenant = self.state.tenant_id
        concepts = connection.run(
            "SELECT category, data FROM concepts WHERE tenant_id = :t AND created_at >= :b AND created_at < :e",
            t=tenant,
            b=begin,
            e=end,
        )
        platforms = [
            row[0] for row in connection.run("SELECT DISTINCT platform FROM videos WHERE tenant_id = :t", t=tenant)
        ] or list(PLATFORMS)
        predicted, actual = [], []
        for category, data in concepts:
            data = json.loads(data) if isinstance(data, str) else data
            for platform in platforms:
                breakdown = breakdown_of(data, platform)
                score = (data.get("platformVirality") or {}).get(_key(platform), {}).get("score")
                if breakdown is None or score is None:
                    continue
                predicted.append(float(score))
                actual.append(self.audience.expected_score(breakdown, category, platform))
        posted_today = connection.run(
            """SELECT c.category, c.data, v.platform FROM social_posts p
                 JOIN videos v ON v.tenant_id = p.tenant_id AND v.id = p.video_id
                 JOIN concepts c ON c.tenant_id = v.tenant_id AND c.id = v.concept_id
                WHERE p.tenant_id = :t AND p.status = 'published' AND p.posted_at >= :b AND p.posted_at < :e
                ORDER BY p.posted_at, p.id""",
            t=tenant,
            b=begin,
            e=end,
        )
        posts = dict(
            connection.run(
                """SELECT status, count(*) FROM social_posts WHERE tenant_id = :t
                    AND coalesce(posted_at, updated_at) >= :b AND coalesce(posted_at, updated_at) < :e
                    GROUP BY status""",
                t=tenant,
                b=begin,
                e=end,
            )
        )
        cost = connection.run(
            "SELECT coalesce(sum(generation_cost), 0) FROM videos WHERE tenant_id = :t AND created_at >= :b "
            "AND created_at < :e",
            t=tenant,
            b=begin,
            e=end,
        )[0][0]
        model = connection.run(
            "SELECT weights FROM score_models WHERE tenant_id = :t ORDER BY version DESC LIMIT 1", t=tenant
        )
        feedback = connection.run(
            """SELECT f.id, f.category, f.platform, f.engagement_rate, c.data FROM performance_feedback f
                 JOIN concepts c ON c.tenant_id = f.tenant_id AND c.id = f.concept_id
                WHERE f.tenant_id = :t AND f.data_source = 'api' AND f.reported_at < :e
                ORDER BY f.reported_at, f.id""",
            t=tenant,
            e=end,
        )
        weights = _weights(model[0][0] if model else None, platforms)
        pairs = []
        for category, data, platform in posted_today:
            data = json.loads(data) if isinstance(data, str) else data
            breakdown = breakdown_of(data, platform)
            score = (data.get("platformVirality") or {}).get(_key(platform), {}).get("score")
            if breakdown is not None and score is not None:
                expected = self.audience.expected_score(breakdown, category, platform)
                pairs.append(
                    [float(score), round(expected, 3), round(self.original.predict(breakdown, category, platform), 3)]
                )
        self.state.days.append(
            asdict(
                DayResult(
                    day=day + 1,
                    predictionError=mae([p[0] for p in pairs], [p[1] for p in pairs]),
                    rankCorrelation=spearman([p[0] for p in pairs], [p[1] for p in pairs]),
                    originalRuleError=mae([p[2] for p in pairs], [p[1] for p in pairs]),
                    conceptError=mae(predicted, actual),
                    conceptRankCorrelation=spearman(predicted, actual),
                    pairs=pairs,
                    concepts=len(concepts),
                    posted=int(posts.get("published", 0)),
                    failed=int(posts.get("failed", 0)) + int(posts.get("unconfirmed", 0)),
                    costUsd=round(float(cost), 4),
                    weights=weights,
                )
            )
        )
        fed = set(self.state.fed_feedback)
        for feedback_id, category, platform, engagement, data in feedback:
            if str(feedback_id) in fed:
                continue
            data = json.loads(data) if isinstance(data, str) else data
            breakdown = breakdown_of(data, platform)
            if breakdown is not None:
                self.original.learn(breakdown, category, platform, float(engagement))
            self.state.fed_feedback.append(str(feedback_id))

    def _result(self, stack: Any, network: Any, luma: Any, elapsed_s: float) -> dict[str, Any]:
        from local.simulation.report import write_report

        recovered = self._recovered(stack, network, luma)
        days = [
            {k: d[k] for k in ("day", "predictionError", "rankCorrelation", "posted", "failed", "costUsd")}
            for d in self.state.days
        ]
        report = write_report(self.workdir, self.state.days, options=self.options, faults=self.faults.injected)
        return {
            "days": days,
            "doublePosts": sum(max(0, len(ids) - 1) for ids in network.published.values()),
            "faultsInjected": sorted(self.faults.injected),
            "faultsRecovered": sorted(name for name, ok in recovered.items() if ok),
            "report": str(report),
            "originalRule": [d["originalRuleError"] for d in self.state.days],
            "conceptError": [d["conceptError"] for d in self.state.days],
            "pairs": [d["pairs"] for d in self.state.days],
            "elapsedS": round(elapsed_s, 1),
            "runs": self.state.runs,
        }

    def _recovered(self, stack: Any, network: Any, luma: Any) -> dict[str, bool]:
        """Whether each injected fault ended as if it never happened (see local.simulation.faults)."""
        connection = self._owner
        tenant = self.state.tenant_id
        stuck = connection.run(
            "SELECT count(*) FROM social_posts WHERE tenant_id = :t AND status IN ('failed', 'unconfirmed')",
            t=tenant,
        )[0][0]
        accounts = connection.run(
            "SELECT count(*) FROM social_accounts WHERE tenant_id = :t AND status <> 'active'", t=tenant
        )[0][0]
        vendor_videos = connection.run(
            "SELECT provider_job_id, status FROM videos WHERE tenant_id = :t AND provider = 'luma'", t=tenant
        )
        doubles = any(len(ids) > 1 for ids in network.published.values())
        dead_letters = stack.dead_letters()
        if dead_letters:
            log.warning("messages left in dead-letter queues: %s", dead_letters)
        results: dict[str, bool] = {}
        for name in self.faults.injected:
            if dead_letters:  # a message the system gave up on: nothing counts as recovered
                results[name] = False
                continue
            if name == "vendor-5xx-after-accept" and luma is not None:
                # Every job the vendor accepted belongs to exactly one video, and none is stuck.
                referenced = [job for job, _ in vendor_videos if job]
                results[name] = len(referenced) == len(set(referenced)) == len(luma.jobs) and all(
                    status == "ready" for _, status in vendor_videos
                )
            elif name == "token-expired":
                results[name] = accounts == 0
            else:
                results[name] = stuck == 0 and not doubles
        return results


class _DurableLuma(FakeLuma):
    """The Luma-shaped fake vendor, telling the run about every job it accepts (so a stopped run keeps them)."""

    on_change: Callable[[], None] | None = None

    def _new_job(self, job_id: str | None = None, request: dict[str, Any] | None = None) -> Job:
        job = super()._new_job(job_id, request)
        if self.on_change is not None:
            self.on_change()
        return job

    def restore(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.jobs[job_id] = Job(id=job_id, polls_left=self.polls_until_done, outcome=self.outcome)
        numbers = [uuid.UUID(job_id).int for job_id in job_ids]
        self._ids = itertools.count(max(numbers, default=0) + 1)  # new jobs never take an old id


def _key(platform: str) -> str:
    from viral.content.scoring import PLATFORM_KEYS

    return PLATFORM_KEYS[platform]


def _weights(weights: Any, platforms: list[str]) -> dict[str, float]:
    """The model's category weights on the platforms posted to, as `platform/category` (defaults until learnt)."""
    from viral.content.scoring import DEFAULT_WEIGHTS

    if isinstance(weights, str):
        weights = json.loads(weights)
    table = (weights or DEFAULT_WEIGHTS).get("categoryWeights") or DEFAULT_WEIGHTS["categoryWeights"]
    return {f"{p}/{c}": round(float(w), 4) for p in platforms for c, w in sorted((table.get(p) or {}).items())}


def _own_database(url: Any, name: str) -> Any:
    from local.simulation.clock import owner_connection

    connection = owner_connection(url)
    try:
        if not connection.run("SELECT 1 FROM pg_database WHERE datname = :n", n=name):
            connection.run(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return url.set(database=name)
