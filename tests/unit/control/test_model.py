"""Pure rules of the control plane: validation, conflicts, snapshot, configuration rendering."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import pytest

from core.errors import ApiError
from ingress.control import model
from ingress.control.model import CustomerInput, ExternalId, Owner


def test_version_clock_is_strictly_increasing_even_when_time_stands_still() -> None:
    clock = model.VersionClock(now_us=lambda: 1_000)
    assert [clock.next() for _ in range(3)] == [1_000, 1_001, 1_002]


def test_version_clock_follows_time() -> None:
    times = iter([5_000, 9_000])
    clock = model.VersionClock(now_us=lambda: next(times))
    assert clock.next() == 5_000 and clock.next() == 9_000


def test_iso_z() -> None:
    assert model.iso_z(datetime(2026, 6, 11, 9, 30, tzinfo=UTC)) == "2026-06-11T09:30:00.000Z"
    assert model.iso_z(datetime(2026, 6, 11)) == "2026-06-11T00:00:00.000Z"
    assert model.iso_z(None) is None


def _errors(call: object, body: object) -> list[dict[str, str]]:
    with pytest.raises(ApiError) as info:
        call(body)  # type: ignore[operator]
    assert info.value.status_code == 422 and info.value.code == "VALIDATION_ERROR"
    return list(info.value.details)


def test_validate_customers_accepts_the_documented_example() -> None:
    body = {
        "customers": [
            {
                "customer_id": "pied-piper",
                "name": "Pied Piper",
                "external_ids": [
                    {"source": "salesforce", "id": "0015g00000ABC"},
                    {"source": "hubspot", "id": "4711"},
                ],
            }
        ]
    }
    [customer] = model.validate_customers(body)
    assert customer == CustomerInput(
        "pied-piper", "Pied Piper", (ExternalId("salesforce", "0015g00000ABC"), ExternalId("hubspot", "4711"))
    )


def test_validate_customers_name_and_external_ids_are_optional() -> None:
    assert model.validate_customers({"customers": [{"customer_id": "a"}]}) == [CustomerInput("a", "", ())]


def test_validate_customers_reports_every_failing_field_with_its_path() -> None:
    body = {
        "customers": [
            {"customer_id": "ok", "external_ids": [{"source": "sf", "id": "1"}, {"source": "", "id": "2"}]},
            {"customer_id": 7, "name": "x" * 300},
            "nope",
            {"customer_id": "ok"},
            {"customer_id": "b", "external_ids": {"source": "sf"}},
        ]
    }
    assert [e["path"] for e in _errors(model.validate_customers, body)] == [
        "customers[0].external_ids[1].source",
        "customers[1].customer_id",
        "customers[1].name",
        "customers[2]",
        "customers[3].customer_id",
        "customers[4].external_ids",
    ]


@pytest.mark.parametrize("body", [[], {"customers": "x"}, {}])
def test_validate_customers_needs_a_list(body: object) -> None:
    assert _errors(model.validate_customers, body)[0]["path"] in ("body", "customers")


def test_same_id_twice_with_two_sources_in_one_customer_is_refused() -> None:
    body = {
        "customers": [
            {"customer_id": "a", "external_ids": [{"source": "x", "id": "1"}, {"source": "y", "id": "1"}]}
        ]
    }
    assert _errors(model.validate_customers, body) == [
        {"path": "customers[0].external_ids[1].id", "message": "the same id is listed with two sources"}
    ]


def test_same_id_twice_with_the_same_source_is_collapsed() -> None:
    body = {
        "customers": [
            {"customer_id": "a", "external_ids": [{"source": "x", "id": "1"}, {"source": "x", "id": "1"}]}
        ]
    }
    assert model.validate_customers(body)[0].external_ids == (ExternalId("x", "1"),)


def test_small_validators() -> None:
    assert model.validate_org_name({"name": " Acme "}) == "Acme"
    assert _errors(model.validate_org_name, {"name": ""})[0]["path"] == "name"
    assert model.validate_config_source({}) == "push_api"
    assert _errors(model.validate_config_source, {"source": "csv"})[0]["path"] == "source"
    assert model.validate_rollup({"rollup": "last"}) == "last"
    assert _errors(model.validate_rollup, {"rollup": "median"})[0]["path"] == "rollup"


def _customer(cid: str, *ids: tuple[str, str]) -> CustomerInput:
    return CustomerInput(cid, cid.title(), tuple(ExternalId(s, i) for s, i in ids))


def test_plan_writes_new_ids_and_skips_unchanged_ones() -> None:
    existing = {"sf1": Owner("a", "sf")}
    plan = model.plan_customer_upsert(existing, [_customer("a", ("sf", "sf1"), ("hs", "hs1"))])
    assert plan.external_ids_to_write == [("hs1", "hs", "a")]
    assert plan.external_ids_to_delete == []


def test_plan_removes_ids_missing_from_the_new_set() -> None:
    existing = {"sf1": Owner("a", "sf"), "hs1": Owner("a", "hs"), "x": Owner("b", "sf")}
    plan = model.plan_customer_upsert(existing, [_customer("a", ("hs", "hs1"))])
    assert plan.external_ids_to_write == []
    assert plan.external_ids_to_delete == [("sf1", "sf", "a")]


def test_plan_conflict_with_a_customer_outside_the_request() -> None:
    with pytest.raises(ApiError) as info:
        model.plan_customer_upsert(
            {"4711": Owner("pied-piper", "hubspot")}, [_customer("hooli", ("hubspot", "4711"))]
        )
    assert info.value.status_code == 409 and info.value.code == "CONFLICT"
    assert info.value.details == [
        {"source": "hubspot", "id": "4711", "customer_id": "hooli", "used_by": "pied-piper"}
    ]


def test_plan_conflict_inside_the_request() -> None:
    with pytest.raises(ApiError) as info:
        model.plan_customer_upsert({}, [_customer("a", ("sf", "1")), _customer("b", ("sf", "1"))])
    assert info.value.status_code == 409
    assert info.value.details == [{"source": "sf", "id": "1", "customer_id": "b", "used_by": "a"}]


def test_plan_moves_an_id_between_two_customers_of_the_same_request() -> None:
    existing = {"1": Owner("a", "sf")}
    plan = model.plan_customer_upsert(existing, [_customer("a"), _customer("b", ("sf", "1"))])
    assert plan.external_ids_to_write == [("1", "sf", "b")]
    assert plan.external_ids_to_delete == []


def test_plan_changing_the_source_of_an_id_rewrites_it() -> None:
    plan = model.plan_customer_upsert({"1": Owner("a", "sf")}, [_customer("a", ("stripe", "1"))])
    assert plan.external_ids_to_write == [("1", "stripe", "a")]


def test_plan_is_fast_for_tens_of_thousands() -> None:
    customers = [_customer(f"c{i}", ("sf", f"sf{i}"), ("hs", f"hs{i}")) for i in range(50_000)]
    existing = {f"sf{i}": Owner(f"c{i}", "sf") for i in range(50_000)}
    plan = model.plan_customer_upsert(existing, customers)
    assert len(plan.external_ids_to_write) == 50_000 and plan.external_ids_to_delete == []


def test_customers_view_groups_and_sorts() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    view = model.customers_view(
        [("b", "B", at), ("a", "A", None)], [("b", "sf", "2"), ("b", "hs", "9"), ("x", "sf", "3")]
    )
    assert view == [
        {"customer_id": "a", "name": "A", "external_ids": [], "updated_at": None},
        {
            "customer_id": "b",
            "name": "B",
            "external_ids": [{"source": "hs", "id": "9"}, {"source": "sf", "id": "2"}],
            "updated_at": "2026-01-01T00:00:00.000Z",
        },
    ]


def test_curl_example_is_ready_to_run() -> None:
    endpoint = model.push_endpoint("https://ingest.example.com/")
    assert endpoint == "https://ingest.example.com/v1/usage/events"
    placeholder = model.curl_example(endpoint, None)
    assert '"Authorization: Bearer $QUIVLY_API_KEY"' in placeholder
    words = shlex.split(placeholder.replace("\\\n", " "))
    assert words[:4] == ["curl", "-X", "POST", endpoint]
    assert '"metric_key":"api_calls"' in words[-1]
    with_key = model.curl_example(endpoint, "qvk_abc", "seats")
    assert "Bearer qvk_abc" in with_key and "seats" in with_key


def test_metrics_view_defaults_to_sum() -> None:
    at = datetime(2026, 6, 11, tzinfo=UTC)
    assert model.metrics_view([("b", at, at), ("a", at, at)], {"b": "max"}) == [
        {
            "metric_key": "a",
            "rollup": "sum",
            "first_seen_at": "2026-06-11T00:00:00.000Z",
            "last_seen_at": "2026-06-11T00:00:00.000Z",
        },
        {
            "metric_key": "b",
            "rollup": "max",
            "first_seen_at": "2026-06-11T00:00:00.000Z",
            "last_seen_at": "2026-06-11T00:00:00.000Z",
        },
    ]


def test_snapshot_applies_only_newer_rows() -> None:
    snapshot = model.Snapshot()
    rows = [("o", "sf1", "a", 0, 10), ("o", "sf1", "b", 0, 5), ("o", "hs1", "a", 0, 7)]
    assert model.apply_external_id_rows(snapshot, rows) == 2
    assert snapshot.customer_for("o", "sf1") == "a"
    assert snapshot.max_external_version == 10
    # Re-reading an overlapping window changes nothing; a newer removal wins.
    assert model.apply_external_id_rows(snapshot, [*rows, ("o", "hs1", "a", 1, 11)]) == 1
    assert snapshot.customer_for("o", "hs1") is None
    assert snapshot.customer_for("other", "sf1") is None
    assert snapshot.customer_count() == 1


def test_key_index_and_published() -> None:
    assert model.key_index([("o1", "h1"), ("o2", "")]) == {"h1": "o1"}
    assert model.published_orgs([("o1", "draft"), ("o2", "published")]) == frozenset({"o2"})
