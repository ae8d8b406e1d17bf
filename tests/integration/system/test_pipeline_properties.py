"""Property-based, end to end: every event answered ``written: true`` is stored and reads back.

Generated batches are valid per the push API at its edges (extreme and tiny floats, integers past
2^53 and 2^64, timestamps at both ends of the accepted range in every granularity, odd offsets and
fractions, NUL, emoji, right-to-left text and escaped surrogate pairs in IDs, metric keys and
properties, properties at exactly the size and depth limits, a 101-month backfill). Each batch is
pushed through the real stack (ingress over HTTP, Tansu, the streams worker, ClickHouse, query over
HTTP); then every written event must be fetchable with exactly its value, properties, period and
timestamp, searches answer, and a canary pushed after the batch lands.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.api_keys import hash_api_key
from core.clickhouse import make_client
from core.names import API_KEYS
from core.periods import Granularity, format_utc, period_start
from core.records import ReplaceKey
from core.settings import AdminSettings, ClickHouseSettings, KafkaSettings
from core.storage_bounds import (
    PROPERTIES_MAX_DEPTH,
    PROPERTY_INT_MAX,
    PROPERTY_INT_MIN,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
)
from infra.processes import free_port
from ingress.main import create_app as create_ingress
from ingress.push.validation import MAX_PROPERTIES_BYTES
from ingress.settings import IngressSettings
from query.main import create_app as create_query
from query.settings import QuerySettings
from tests.integration.ingress.conftest import FakeDirectory, FakeDiscovery
from tests.integration.streams.helpers import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.slow]

API_KEY = "qvk_property_test_key_0123456789"
ORG = "org-properties"
# External IDs (and the customers they resolve to) at the edges of what an ID may hold.
EXTERNAL_IDS = {
    "plain-1": "c-plain",
    "nul\x00inside": "c-nul",
    "emoji-😀-🧪": "c-emoji",
    "rtl-\u05e9\u05dc\u05d5\u05dd-\u0645\u0631\u062d\u0628\u0627": "c-rtl",
    "x" * 255: "c-long",
    "\U0001f600" * 255: "c-astral",  # 255 characters, each a surrogate pair when escaped
}
LAND_TIMEOUT_S = 30.0

TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # no lone surrogates
EDGE_TEXT = st.sampled_from(["", "\x00", "a\x00b", "😀", "\u202eevil\u202c", "\u05d0\u05d1", "\\u0000"])
KEYS = st.one_of(TEXT, EDGE_TEXT)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
EDGE_FLOATS = st.sampled_from([5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e20, -0.0])
PROPERTY_INTS = st.one_of(
    st.integers(PROPERTY_INT_MIN, PROPERTY_INT_MAX),
    st.sampled_from([2**53 + 1, -(2**53) - 1, PROPERTY_INT_MAX, PROPERTY_INT_MIN, 2**63]),
)
SCALARS = st.one_of(st.none(), st.booleans(), PROPERTY_INTS, FLOATS, EDGE_FLOATS, KEYS)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=12,
)


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@st.composite
def properties(draw: st.DrawFn) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["none", "free", "full", "deep"]))
    if kind == "none":
        return None
    base: dict[str, Any] = draw(st.dictionaries(KEYS, JSON_VALUES, max_size=4))
    if len(_canonical(base)) > MAX_PROPERTIES_BYTES - 200:
        base = {}
    if kind == "deep":
        return _deep(draw(SCALARS), [draw(st.booleans()) for _ in range(PROPERTIES_MAX_DEPTH - 1)]) or base
    if kind == "full":
        return _padded(base, draw(st.sampled_from(["x", "é", "😀", "\x00"])))
    return base


def _deep(leaf: Any, as_lists: list[bool]) -> dict[str, Any] | None:
    """Exactly the accepted depth (the properties object is level 1), if it fits the size limit."""
    node = leaf
    for as_list in as_lists:
        node = [node] if as_list else {"k": node}
    deep = {"deep": node}
    return deep if len(_canonical(deep)) <= MAX_PROPERTIES_BYTES else None


def _padded(base: dict[str, Any], filler: str) -> dict[str, Any]:
    """``base`` plus a ``pad`` string making it exactly the size limit (multi-byte fillers too)."""
    padded = {**base, "pad": ""}
    while len(_canonical(padded)) + len(_canonical(filler)) - 2 <= MAX_PROPERTIES_BYTES:
        padded["pad"] += filler
    while len(_canonical(padded)) < MAX_PROPERTIES_BYTES:
        padded["pad"] += "y"
    assert len(_canonical(padded)) == MAX_PROPERTIES_BYTES
    return padded


@st.composite
def timestamps(draw: st.DrawFn, granularity: str) -> str | None:
    """ISO 8601 text of an accepted moment: both ends, odd offsets, fractions or none."""
    earliest = TIMESTAMP_MIN[granularity]
    moment = draw(
        st.one_of(
            st.just(earliest),
            st.just(TIMESTAMP_MAX),
            st.datetimes(earliest.replace(tzinfo=None), TIMESTAMP_MAX.replace(tzinfo=None)).map(
                lambda d: d.replace(tzinfo=UTC)
            ),
            st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)).map(lambda d: d.replace(tzinfo=UTC)),
        )
    )
    style = draw(st.sampled_from(["none", "Z", "offset", "naive"]))
    if style == "none":
        return None
    if style == "Z":
        return moment.isoformat().replace("+00:00", "Z")
    if style == "naive":
        return moment.replace(tzinfo=None).isoformat()
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    return moment.astimezone(timezone(timedelta(minutes=minutes))).isoformat()


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    granularity = draw(st.sampled_from([g.value for g in Granularity]))
    event: dict[str, Any] = {
        "external_customer_id": draw(st.sampled_from(sorted(EXTERNAL_IDS))),
        "metric_key": draw(
            st.one_of(
                st.text(st.characters(codec="utf-8"), min_size=1, max_size=128),
                st.sampled_from(["api_calls", "nul\x00key", "😀" * 128, "\u202erlo", "m" * 128]),
            )
        ),
        "value": draw(
            st.one_of(
                FLOATS,
                EDGE_FLOATS,
                st.integers(-(2**70), 2**70),
                st.sampled_from([2**53 + 1, 2**64, 2**64 + 1, -(2**63) - 1]),
            )
        ),
        "granularity": granularity,
        "event_type": draw(st.sampled_from(["credit", "debit"])),
    }
    stamp = draw(timestamps(granularity))
    if stamp is not None:
        event["timestamp"] = stamp
    props = draw(properties())
    if props is not None:
        event["properties"] = props
    return event


def _backfill() -> list[dict[str, Any]]:
    """101 monthly values over 101 months (more partitions than one ClickHouse insert may span)."""
    return [
        {
            "external_customer_id": "plain-1",
            "metric_key": "backfill",
            "value": month,
            "granularity": "monthly",
            "event_type": "credit",
            "timestamp": f"{2015 + month // 12}-{month % 12 + 1:02d}-15T23:59:59.999999-12:00",
        }
        for month in range(101)
    ]


BATCHES = st.lists(events(), min_size=1, max_size=12)


def _edge_batch() -> list[dict[str, Any]]:
    """Every edge at least once, whatever hypothesis draws: both ends of the range in every
    granularity, the extreme values, IDs and metric keys, full and deepest properties."""
    values = [1e20, -1e20, 2**64, 2**64 + 1, 2**53 + 1, 5e-324, 1.7976931348623157e308, -0.0]
    ids = sorted(EXTERNAL_IDS)
    keys = ["nul\x00key", "😀" * 128, "\u202erlo\u05d0", "m" * 128]
    properties: list[dict[str, Any]] = [
        {"ints": [PROPERTY_INT_MAX, PROPERTY_INT_MIN, 2**53 + 1], "floats": [1e20, 5e-324, -0.0]},
        _padded({"emoji": "😀"}, "😀"),
        _padded({}, "\x00"),
        _deep(None, [False] * (PROPERTIES_MAX_DEPTH - 1)) or {},
        _deep(1e20, [True] * (PROPERTIES_MAX_DEPTH - 1)) or {},
        {"\x00": "\u202e\u05d0\U0001f600", "": None},
    ]
    batch = []
    for index, (granularity, moment) in enumerate(
        (g.value, moment) for g in Granularity for moment in (TIMESTAMP_MIN[g.value], TIMESTAMP_MAX)
    ):
        batch.append(
            {
                "external_customer_id": ids[index % len(ids)],
                "metric_key": keys[index % len(keys)],
                "value": values[index % len(values)],
                "granularity": granularity,
                "event_type": "debit",
                "timestamp": moment.astimezone(timezone(timedelta(hours=-23, minutes=-59))).isoformat(),
                "properties": properties[index % len(properties)],
            }
        )
    return batch


def _body(batch: list[dict[str, Any]], escaped: bool) -> bytes:
    """The standard library writes integers of any size; ``escaped`` sends every non-ASCII
    character as ``\\uXXXX`` (astral ones as surrogate pairs)."""
    return json.dumps({"events": batch}, ensure_ascii=escaped).encode("utf-8")


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Server:
    """An ASGI app under uvicorn in a thread: real HTTP, in this process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def stack(
    kafka_settings: KafkaSettings,
    clickhouse_settings: ClickHouseSettings,
    tmp_path: Path,
    artifacts_dir: Path,
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    client = make_client(clickhouse_settings)
    row = [ORG, hash_api_key(API_KEY), API_KEY[:8], datetime.now(UTC), 1]
    client.insert(API_KEYS, [row], column_names=["org_id", "key_hash", "key_prefix", "created_at", "version"])
    directory = FakeDirectory(
        keys={API_KEY: ORG},
        published={ORG},
        customers={(ORG, external): customer for external, customer in EXTERNAL_IDS.items()},
    )
    ingress = create_ingress(
        IngressSettings(rate_limit_per_minute=100_000),
        kafka=kafka_settings,
        clickhouse=clickhouse_settings,
        admin=AdminSettings(admin_token="unused"),
        directory=directory,
        discovery=FakeDiscovery(),
    )
    query = create_query(QuerySettings(), clickhouse_settings)
    app_id = f"properties-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        kafka_settings,
        clickhouse_settings,
        tmp_path / app_id,
        app_id,
        artifacts_dir / "streams" / f"{app_id}.log",
    ).start()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    try:
        with (
            _Server(ingress) as ingress_url,
            _Server(query) as query_url,
            httpx.Client(base_url=ingress_url, headers=headers, timeout=30) as push,
            httpx.Client(base_url=query_url, headers=headers, timeout=30) as read,
        ):
            yield push, read
    finally:
        worker.stop()


_canaries = itertools.count()


def _push(push: httpx.Client, batch: list[dict[str, Any]], escaped: bool) -> list[dict[str, Any]]:
    deadline = time.monotonic() + LAND_TIMEOUT_S
    while True:  # 503 only while the producer connects at the start
        answer = push.post("/v1/usage/events", content=_body(batch, escaped))
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]  # the first 100 events
    assert answer.json()["inserted"] == len(batch)
    assert [r["written"] for r in results] == [True] * min(len(batch), 100)
    return results


def _expected(batch: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The stored value per event ID: the last event of each key wins."""
    expected: dict[str, dict[str, Any]] = {}
    for index, event in enumerate(batch):
        if index < len(results):
            result = results[index]
        else:  # beyond the report: the key from the event's own timestamp
            granularity = Granularity(event["granularity"])
            start = format_utc(period_start(_utc(event["timestamp"]), granularity))
            customer = EXTERNAL_IDS[event["external_customer_id"]]
            key = ReplaceKey(ORG, customer, event["metric_key"], granularity.value, start)
            result = {"event_id": key.event_id(), "period_start": start}
        expected[result["event_id"]] = {"event": event, "result": result}
    return expected


def _check(fetched: dict[str, Any], event: dict[str, Any], result: dict[str, Any]) -> None:
    granularity = event["granularity"]
    assert fetched["value"] == float(event["value"])
    assert _canonical(fetched["event_properties"]) == _canonical(event.get("properties") or {})
    assert fetched["event_code"] == event["metric_key"]
    assert fetched["external_customer_id"] == event["external_customer_id"]
    assert fetched["customer_id"] == EXTERNAL_IDS[event["external_customer_id"]]
    assert (fetched["granularity"], fetched["event_type"]) == (granularity, event["event_type"])
    assert fetched["period_start"] == result["period_start"]
    if "timestamp" in event:
        moment = _utc(event["timestamp"])
        assert _utc(fetched["created_at"]) == moment
        assert _utc(fetched["period_start"]) == period_start(moment, Granularity(granularity))


def _stored(read: httpx.Client, event_id: str, want: dict[str, Any], deadline: float) -> None:
    """Polls until the event reads back exactly as pushed (an earlier example may have written
    the same key with other content); at the deadline the mismatch is the failure."""
    while True:
        answer = read.get(f"/v1/events/{event_id}")
        assert answer.status_code in (200, 404), answer.text
        last_try = time.monotonic() > deadline
        if answer.status_code == 200:
            try:
                _check(answer.json(), want["event"], want["result"])
                return
            except AssertionError:
                if last_try:
                    raise
        assert not last_try, f"never stored: {event_id} {want}"
        time.sleep(0.2)


def _wait_until_stored(
    read: httpx.Client, canary: tuple[str, dict[str, Any]], expected: dict[str, dict[str, Any]]
) -> None:
    """The canary first (pushed last: once it is stored, the batch nearly always is), then each
    event of the batch."""
    deadline = time.monotonic() + LAND_TIMEOUT_S
    _stored(read, *canary, deadline)
    for event_id, want in expected.items():
        _stored(read, event_id, want, deadline)


def _canary(push: httpx.Client) -> tuple[str, dict[str, Any]]:
    canary = {
        "external_customer_id": "plain-1",
        "metric_key": f"canary-{next(_canaries)}",
        "value": 1,
        "granularity": "daily",
        "event_type": "credit",
    }
    [result] = _push(push, [canary], escaped=False)
    return result["event_id"], {"event": canary, "result": result}


def _backfill_reads_back(push: httpx.Client, read: httpx.Client) -> None:
    """101 months in one request: stored whole (the worker's inserts stay within ClickHouse's
    partition limit), checked through two pages of a customer search."""
    batch = _backfill()
    expected = _expected(batch, _push(push, batch, escaped=False))
    assert len(expected) == 101
    _wait_until_stored(read, _canary(push), {})
    deadline = time.monotonic() + LAND_TIMEOUT_S
    while True:
        found: dict[str, dict[str, Any]] = {}
        for offset in (0, 100):
            body = {"customer_id": "c-plain", "event_code": "backfill", "limit": 100, "offset": offset}
            answer = read.post("/v1/events/search", content=orjson.dumps(body))
            assert answer.status_code == 200, answer.text
            found.update((event["event_id"], event) for event in answer.json()["events"])
        if len(found) == 101 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert sorted(found) == sorted(expected)
    for event_id, want in expected.items():
        _check(found[event_id], want["event"], want["result"])


def test_every_written_event_reads_back_exactly(stack: tuple[httpx.Client, httpx.Client]) -> None:
    push, read = stack
    _wait_until_stored(read, _canary(push), {})  # the worker has joined and sinks
    _backfill_reads_back(push, read)

    @settings(
        max_examples=10,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=BATCHES, escaped=st.booleans())
    @example(batch=_edge_batch(), escaped=False)
    @example(batch=_edge_batch(), escaped=True)
    def pushed_batch_reads_back(batch: list[dict[str, Any]], escaped: bool) -> None:
        results = _push(push, batch, escaped)
        _wait_until_stored(read, _canary(push), _expected(batch, results))
        for body in ({}, {"customer_id": EXTERNAL_IDS[batch[0]["external_customer_id"]], "limit": 100}):
            found = read.post("/v1/events/search", content=orjson.dumps(body))
            assert found.status_code == 200 and found.json()["total"] >= 1, found.text

    pushed_batch_reads_back()
