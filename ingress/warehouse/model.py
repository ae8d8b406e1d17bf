"""Warehouse sources: what a source holds, the rules of its admin bodies, its public view (pure logic).

No I/O here. Credentials travel as a separate ``secrets`` dict: they are sealed before storage
(``secrets.py``) and never appear in a view, where each one set is shown as ``MASK``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from core.errors import ApiError, check_text, validation_failed

STATUS_DRAFT = "draft"
STATUS_PUBLISHED = "published"
STATUS_PAUSED = "paused"
MASK = "********"
MAX_NAME = 255
MAX_QUERY_CHARS = 100_000
MAX_SETTING_CHARS = 1024
MAX_SECRET_CHARS = 16_384
MAX_INTERVAL_S = 31 * 86_400
MAX_LOOKBACK_S = 366 * 86_400
DEFAULT_INTERVAL_S = 3_600
DEFAULT_LOOKBACK_S = 86_400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class KindSpec:
    """The connection settings of one warehouse kind."""

    label: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    secrets: tuple[str, ...]
    since_marker: str  # how the query names the bound watermark
    since_example: str
    int_settings: tuple[str, ...] = ()


KINDS: dict[str, KindSpec] = {
    "clickhouse": KindSpec(
        "ClickHouse",
        required=("url",),
        optional=("database", "username"),
        secrets=("password",),
        since_marker="{since:",
        since_example="{since:DateTime64(6, 'UTC')}",
    ),
    "snowflake": KindSpec(
        "Snowflake",
        required=("account", "user"),
        optional=("warehouse", "database", "schema", "role", "host", "port", "protocol"),
        secrets=("password", "private_key"),
        since_marker="%(since)s",
        since_example="%(since)s",
        int_settings=("port",),
    ),
    "bigquery": KindSpec(
        "BigQuery",
        required=("project",),
        optional=("location", "api_endpoint"),
        secrets=("service_account_json",),
        since_marker="@since",
        since_example="@since",
    ),
}


@dataclass(frozen=True)
class Source:
    org_id: str
    source_id: str
    name: str
    kind: str
    status: str
    connection: dict[str, Any]
    secret_token: str
    query: str
    interval_s: int
    watermark_column: str
    lookback_s: int
    created_at: datetime
    published_at: datetime | None = None

    @property
    def lookback(self) -> timedelta:
        return timedelta(seconds=self.lookback_s)


@dataclass
class SourceInput:
    """A validated create or update body; ``secrets`` holds only the credentials given."""

    name: str
    kind: str
    connection: dict[str, Any]
    secrets: dict[str, str]
    query: str
    interval_s: int
    watermark_column: str
    lookback_s: int
    kept_secrets: set[str] = field(default_factory=set)  # sent as MASK: keep the stored value


def not_found(message: str = "Source not found") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def _string(value: Any, path: str, max_len: int, errors: list[dict[str, str]]) -> str | None:
    text = check_text(value, path, max_len, errors)
    return None if text is None else text.strip()


def _integer(value: Any, path: str, low: int, high: int, errors: list[dict[str, str]]) -> int | None:
    if type(value) is not int:
        errors.append({"path": path, "message": "must be a whole number"})
        return None
    if not low <= value <= high:
        errors.append({"path": path, "message": f"must be between {low} and {high}"})
        return None
    return value


def _connection(
    kind: str, raw: Any, errors: list[dict[str, str]], partial: bool
) -> tuple[dict[str, Any], dict[str, str], set[str]]:
    spec = KINDS[kind]
    if not isinstance(raw, dict):
        errors.append({"path": "connection", "message": "must be an object"})
        return {}, {}, set()
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    kept: set[str] = set()
    known = set(spec.required) | set(spec.optional) | set(spec.secrets)
    for name in sorted(set(raw) - known):
        errors.append(
            {
                "path": f"connection.{name}",
                "message": f"unknown setting for {spec.label}: {', '.join(sorted(known))}",
            }
        )
    for name in spec.required + spec.optional:
        value = raw.get(name)
        if value is None:
            if name in spec.required and not partial:
                errors.append({"path": f"connection.{name}", "message": "required"})
            continue
        if name in spec.int_settings:
            checked_int = _integer(value, f"connection.{name}", 1, 65_535, errors)
            if checked_int is not None:
                settings[name] = checked_int
            continue
        checked = _string(value, f"connection.{name}", MAX_SETTING_CHARS, errors)
        if checked is not None:
            settings[name] = checked
    for name in spec.secrets:
        value = raw.get(name)
        if value is None:
            continue
        if value == MASK:
            kept.add(name)
            continue
        checked = _string(value, f"connection.{name}", MAX_SECRET_CHARS, errors)
        if checked is not None:
            secrets[name] = value
    _kind_rules(kind, settings, errors)
    return settings, secrets, kept


def _kind_rules(kind: str, settings: dict[str, Any], errors: list[dict[str, str]]) -> None:
    url = settings.get("url") or settings.get("api_endpoint")
    if url is not None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            name = "url" if "url" in settings else "api_endpoint"
            errors.append({"path": f"connection.{name}", "message": "must be an http(s):// URL"})
    if kind == "snowflake" and settings.get("protocol") not in (None, "http", "https"):
        errors.append({"path": "connection.protocol", "message": "must be http or https"})


def _query(kind: str, value: Any, watermark_column: str, errors: list[dict[str, str]]) -> str | None:
    query = _string(value, "query", MAX_QUERY_CHARS, errors)
    if query is None:
        return None
    spec = KINDS[kind]
    placeholder = spec.since_example
    if watermark_column and spec.since_marker not in query:
        errors.append(
            {
                "path": "query",
                "message": f"must bound the watermark with {placeholder} "
                f"(e.g. WHERE {watermark_column} > {placeholder})",
            }
        )
        return None
    return query


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise validation_failed([{"path": "body", "message": "must be a JSON object"}])
    return body


def validate_create(body: Any, min_interval_s: int) -> SourceInput:
    """A create body; raises one 422 listing every failing field."""
    payload = _object(body)
    errors: list[dict[str, str]] = []
    kind = payload.get("kind")
    if kind not in KINDS:
        raise validation_failed([{"path": "kind", "message": f"must be one of {', '.join(KINDS)}"}])
    name = _string(payload.get("name", KINDS[kind].label), "name", MAX_NAME, errors)
    connection, secrets, kept = _connection(kind, payload.get("connection"), errors, partial=False)
    schedule = _schedule(payload.get("schedule"), min_interval_s, errors)
    column, lookback = _incremental(payload.get("incremental"), errors)
    query = _query(kind, payload.get("query"), column, errors)
    if kind == "snowflake" and not secrets:
        errors.append({"path": "connection.password", "message": "a password or a private_key is required"})
    if kind == "bigquery" and not secrets and "api_endpoint" not in connection:
        errors.append({"path": "connection.service_account_json", "message": "required"})
    if errors or name is None or query is None:
        raise validation_failed(errors[:100])
    return SourceInput(name, kind, connection, secrets, query, schedule, column, lookback, kept)


def validate_update(body: Any, current: Source, min_interval_s: int) -> SourceInput:
    """An update body merged over ``current``: absent fields (and secrets sent as MASK) stay."""
    payload = _object(body)
    errors: list[dict[str, str]] = []
    if "kind" in payload and payload["kind"] != current.kind:
        errors.append({"path": "kind", "message": "cannot change; create another source"})
    name = current.name
    if "name" in payload:
        name = _string(payload["name"], "name", MAX_NAME, errors) or name
    connection = dict(current.connection)
    secrets: dict[str, str] = {}
    kept = set(KINDS[current.kind].secrets)
    if "connection" in payload:
        given, secrets, _ = _connection(current.kind, payload["connection"], errors, partial=True)
        raw = payload["connection"] if isinstance(payload["connection"], dict) else {}
        connection = {k: v for k, v in connection.items() if k not in raw or raw[k] is not None}
        connection.update(given)
        kept = {s for s in kept if s not in raw or raw[s] == MASK}
    interval = current.interval_s
    if "schedule" in payload:
        interval = _schedule(payload["schedule"], min_interval_s, errors)
    column, lookback = current.watermark_column, current.lookback_s
    if "incremental" in payload:
        column, lookback = _incremental(payload["incremental"], errors)
    query = _query(current.kind, payload.get("query", current.query), column, errors)
    if errors or query is None:
        raise validation_failed(errors[:100])
    return SourceInput(name, current.kind, connection, secrets, query, interval, column, lookback, kept)


def _schedule(raw: Any, min_interval_s: int, errors: list[dict[str, str]]) -> int:
    if raw is None:
        return DEFAULT_INTERVAL_S
    if not isinstance(raw, dict):
        errors.append({"path": "schedule", "message": "must be an object with interval_s"})
        return DEFAULT_INTERVAL_S
    value = _integer(raw.get("interval_s"), "schedule.interval_s", min_interval_s, MAX_INTERVAL_S, errors)
    return value if value is not None else DEFAULT_INTERVAL_S


def _incremental(raw: Any, errors: list[dict[str, str]]) -> tuple[str, int]:
    """(watermark column, lookback seconds); ``null`` means every run re-reads everything."""
    if raw is None:
        return "", 0
    if not isinstance(raw, dict):
        errors.append({"path": "incremental", "message": "must be an object with column and lookback_s"})
        return "", 0
    column = _string(raw.get("column"), "incremental.column", 255, errors) or ""
    lookback_raw = raw.get("lookback_s", DEFAULT_LOOKBACK_S)
    lookback = _integer(lookback_raw, "incremental.lookback_s", 0, MAX_LOOKBACK_S, errors)
    return column.lower(), lookback if lookback is not None else 0


def merged_secrets(given: SourceInput, stored: dict[str, Any]) -> dict[str, Any]:
    """The credentials to seal after an update: the new ones plus the stored ones kept."""
    kept = {name: value for name, value in stored.items() if name in given.kept_secrets}
    return kept | given.secrets


def with_input(source: Source, given: SourceInput, secret_token: str) -> Source:
    return replace(
        source,
        name=given.name,
        connection=given.connection,
        secret_token=secret_token,
        query=given.query,
        interval_s=given.interval_s,
        watermark_column=given.watermark_column,
        lookback_s=given.lookback_s,
    )


def run_window(source: Source, watermark: datetime | None) -> datetime:
    """The lower bound given to the query: the last watermark minus the lookback (epoch at first)."""
    if not source.watermark_column or watermark is None:
        return EPOCH
    return max(EPOCH, watermark - source.lookback)


def is_due(source: Source, last_started: datetime | None, now: datetime) -> bool:
    if source.status != STATUS_PUBLISHED:
        return False
    return last_started is None or now - last_started >= timedelta(seconds=source.interval_s)


def iso_z(value: datetime | None, timespec: str = "milliseconds") -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def source_view(source: Source, secret_names: list[str]) -> dict[str, Any]:
    """What the API shows: every setting, each credential set as ``MASK``, never its value."""
    connection = dict(source.connection)
    for name in KINDS[source.kind].secrets:
        if name in secret_names:
            connection[name] = MASK
    return {
        "source_id": source.source_id,
        "org_id": source.org_id,
        "name": source.name,
        "kind": source.kind,
        "status": source.status,
        "connection": connection,
        "query": source.query,
        "schedule": {"interval_s": source.interval_s},
        "incremental": (
            {"column": source.watermark_column, "lookback_s": source.lookback_s}
            if source.watermark_column
            else None
        ),
        "created_at": iso_z(source.created_at),
        "published_at": iso_z(source.published_at),
    }
