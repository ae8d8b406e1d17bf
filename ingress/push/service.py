"""One push, from authenticated organization and raw body to status, body and headers.

No FastAPI here: the router reads the request and writes the response; this module decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from core.api_keys import looks_like_api_key
from core.errors import ApiError, error_body, unauthorized
from ingress.directory import Directory, MetricDiscovery
from ingress.metrics import count_invalid
from ingress.push.call_log import PushCall
from ingress.push.event_log import EventLogUnavailable
from ingress.push.idempotency import IdempotencyGuard, StoredResponse, fingerprint, valid_idempotency_key
from ingress.push.rate_limit import SlidingWindowLimiter
from ingress.push.report import PushPlan, plan_push
from ingress.push.validation import ValidationFailed, validate_body
from ingress.settings import IngressSettings

REPLAYED_HEADER = "Idempotency-Replayed"


class EventLog(Protocol):
    async def write(self, records: list[tuple[bytes, bytes]]) -> None: ...


class CallRecorder(Protocol):
    def record(self, call: PushCall) -> None: ...


@dataclass(slots=True)
class PushOutcome:
    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json(payload: Any) -> bytes:
    return orjson.dumps(payload)


def no_events_ingested(plan: PushPlan) -> bytes:
    details = plan.response(stored=False)
    details["success"] = False
    message = (
        f"No events could be ingested: none of the {plan.total} event(s) matched a customer "
        "of this organization"
    )
    return _json(error_body("NO_EVENTS_INGESTED", message, details))


NOT_STORED = "The event log is unavailable; nothing was stored, retry later"
OUTCOME_UNKNOWN = (
    "The event log did not confirm every event in time; some or all of them may still be stored. "
    "Retrying the same request is safe: a write replaces the value of its key"
)


def unavailable_body(maybe_stored: bool) -> dict[str, Any]:
    """The 503 body: true (nothing can be stored) or honest (the outcome is unknown)."""
    if maybe_stored:
        return error_body("UNAVAILABLE", OUTCOME_UNKNOWN, {"outcome": "unknown"})
    return error_body("UNAVAILABLE", NOT_STORED, {"outcome": "not_stored"})


def rate_limited(retry_after_s: int) -> ApiError:
    return ApiError(429, "RATE_LIMITED", "Too many requests", headers={"Retry-After": str(retry_after_s)})


class PushService:
    def __init__(
        self,
        settings: IngressSettings,
        directory: Directory,
        discovery: MetricDiscovery,
        event_log: EventLog,
        guard: IdempotencyGuard,
        calls: CallRecorder,
    ) -> None:
        self.settings = settings
        self._directory = directory
        self._discovery = discovery
        self.event_log = event_log
        self.guard = guard
        self.calls = calls
        self.limiter = SlidingWindowLimiter(settings.rate_limit_per_minute, settings.rate_limit_window_s)
        self._last_prune = time.monotonic()

    def authenticate(self, api_key: str | None) -> str:
        if not api_key or not looks_like_api_key(api_key):
            raise unauthorized()
        org_id = self._directory.org_for_api_key(api_key)
        if org_id is None:
            raise unauthorized()
        return org_id

    def admit(self, org_id: str, dry_run: bool) -> None:
        """Raises 429 RATE_LIMITED (logged) when the organization is over its limit."""
        now = time.monotonic()
        if now - self._last_prune > self.settings.rate_limit_window_s:
            self.limiter.forget_idle(now)
            self._last_prune = now
        retry_after = self.limiter.admit(org_id, now)
        if retry_after is not None:
            self.log_rejection(org_id, dry_run, rate_limited(retry_after))
            raise rate_limited(retry_after)

    def log_rejection(self, org_id: str, dry_run: bool, error: ApiError) -> None:
        self.calls.record(
            PushCall(org_id, datetime.now(UTC), self._mode(org_id, dry_run), error.status_code, error.code)
        )

    def _mode(self, org_id: str, dry_run: bool) -> str:
        return "live" if self._directory.is_published(org_id) and not dry_run else "test"

    async def push(self, org_id: str, body: bytes, dry_run: bool, idempotency_key: str | None) -> PushOutcome:
        received_at = datetime.now(UTC)
        if idempotency_key is None:
            outcome, call = await self._process(org_id, body, dry_run, received_at)
            self.calls.record(call)
            return outcome
        if not valid_idempotency_key(idempotency_key):
            raise ApiError(
                422,
                "VALIDATION_ERROR",
                "Request validation failed",
                [{"path": "headers.Idempotency-Key", "message": "Must be 1-255 printable ASCII characters"}],
            )
        print_ = fingerprint(body, dry_run)
        try:
            stored = await self.guard.begin(org_id, idempotency_key, print_, received_at)
        except ApiError as error:
            self.log_rejection(org_id, dry_run, error)
            raise
        if stored is not None:
            self.calls.record(self._replay_call(org_id, received_at, dry_run, stored))
            return PushOutcome(stored.status_code, stored.body, {REPLAYED_HEADER: "true"})
        kept: StoredResponse | None = None
        try:
            outcome, call = await self._process(org_id, body, dry_run, received_at)
            kept = StoredResponse(print_, outcome.status_code, outcome.body, received_at)
        finally:
            await self.guard.finish(org_id, idempotency_key, kept)
        self.calls.record(call)
        return outcome

    async def _process(
        self, org_id: str, body: bytes, dry_run: bool, received_at: datetime
    ) -> tuple[PushOutcome, PushCall]:
        directory = self._directory
        live = directory.is_published(org_id) and not dry_run
        mode = "live" if live else "test"
        try:
            events = validate_body(body)
        except ValidationFailed as failed:
            count_invalid(error.path for error in failed.errors)
            details = [error.as_dict() for error in failed.errors]
            outcome = PushOutcome(
                422, _json(error_body("VALIDATION_ERROR", "Request validation failed", details))
            )
            return outcome, PushCall(org_id, received_at, mode, 422, "VALIDATION_ERROR")
        plan = plan_push(org_id, events, directory.customer_for_external_id, live, received_at)
        self._discovery.saw(org_id, plan.metric_keys, received_at)
        if live and plan.matched == 0:
            return PushOutcome(422, no_events_ingested(plan)), self._call(org_id, received_at, plan, 422)
        if plan.records:
            try:
                await self.event_log.write(plan.records)
            except EventLogUnavailable as unavailable:
                retry = str(self.settings.unavailable_retry_after_s)
                error = unavailable_body(unavailable.maybe_stored)
                call = self._call(org_id, received_at, plan, 503, stored=False)
                return PushOutcome(503, _json(error), {"Retry-After": retry}), call
        return PushOutcome(200, _json(plan.response(stored=True))), self._call(org_id, received_at, plan, 200)

    @staticmethod
    def _call(
        org_id: str, received_at: datetime, plan: PushPlan, status: int, stored: bool = True
    ) -> PushCall:
        codes = {200: "", 422: "NO_EVENTS_INGESTED", 503: "UNAVAILABLE"}
        return PushCall(
            org_id,
            received_at,
            "live" if plan.live else "test",
            status,
            codes.get(status, ""),
            plan.total,
            plan.matched,
            plan.unmatched,
            len(plan.records) if stored and status == 200 else 0,
            plan.unmatched_external_ids,
        )

    def _replay_call(
        self, org_id: str, received_at: datetime, dry_run: bool, stored: StoredResponse
    ) -> PushCall:
        try:
            body = orjson.loads(stored.body)
        except orjson.JSONDecodeError:
            body = {}
        report = body.get("details") if stored.status_code != 200 else body
        summary = report.get("summary", {}) if isinstance(report, dict) else {}
        return PushCall(
            org_id,
            received_at,
            self._mode(org_id, dry_run),
            stored.status_code,
            "" if stored.status_code == 200 else str(body.get("code", "")),
            int(summary.get("total", 0)),
            int(summary.get("matched", 0)),
            int(summary.get("unmatched", 0)),
            0,
            [],
            1,
        )
