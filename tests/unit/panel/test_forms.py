from __future__ import annotations

from typing import Any

from ingress.panel import forms


def test_org_name_is_required_and_bounded() -> None:
    assert forms.validate_org_name("  Acme  ") == ("Acme", {})
    assert "name" in forms.validate_org_name("   ")[1]
    assert forms.validate_org_name("x" * 255) == ("x" * 255, {})  # the admin API's limit
    assert "255" in forms.validate_org_name("x" * 256)[1]["name"]


def test_source_and_rollup_choices() -> None:
    assert forms.validate_source("push_api") == ("push_api", {})
    assert "source" in forms.validate_source("")[1]
    assert forms.validate_rollup("max") == ("max", {})
    assert "rollup" in forms.validate_rollup("median")[1]
    assert forms.validate_publish_confirmation("yes") == {}
    assert "confirm" in forms.validate_publish_confirmation(None)


def test_an_oversized_upload_is_refused_before_parsing() -> None:
    parsed, error = forms.parse_upload(b"x" * (forms.MAX_UPLOAD_BYTES + 1), "c.csv")
    assert parsed is None and error is not None and "larger than 2 MB" in error


def test_an_upload_reads_csv_and_json_like_the_cli() -> None:
    parsed, error = forms.parse_upload(b"Customer_ID,Name,Source,External_ID\na,A,sf,1\n", "c.csv")
    assert error is None and parsed is not None and parsed.customers[0]["customer_id"] == "a"
    parsed, error = forms.parse_upload(b'{"customers": [{"customer_id": "a"}]}', "c.json")
    assert error is None and parsed is not None and parsed.customers == [{"customer_id": "a"}]
    assert forms.parse_upload(b"", "c.csv") == (None, "The file is empty.")


def test_filter_customers_matches_ids_names_and_external_ids() -> None:
    customers: list[dict[str, Any]] = [
        {
            "customer_id": "pied-piper",
            "name": "Pied Piper",
            "external_ids": [{"source": "hubspot", "id": "4711"}],
        },
        {"customer_id": "hooli", "name": "Hooli", "external_ids": []},
    ]
    assert forms.filter_customers(customers, "") == customers
    assert forms.filter_customers(customers, "471") == customers[:1]
    assert forms.filter_customers(customers, "HOOLI") == customers[1:]
    assert forms.filter_customers(customers, "nothing") == []


def test_curl_with_key_replaces_the_admin_apis_placeholder() -> None:
    curl = "curl -H 'Authorization: Bearer $QUIVLY_API_KEY'"
    assert forms.curl_with_key(curl, "k1") == "curl -H 'Authorization: Bearer k1'"
    assert forms.curl_with_key(curl, None) == curl


def test_api_error_fields_maps_details_to_fields() -> None:
    body = {
        "error": "bad",
        "code": "VALIDATION_ERROR",
        "details": [{"path": "name", "message": "Too long"}],
    }
    assert forms.api_error_fields(body, ("name",)) == ({"name": "Too long"}, None)
    assert forms.api_error_fields({"error": "Conflict"}, ("name",)) == ({}, "Conflict")
    assert forms.api_error_fields(None, ())[1]


def test_push_call_view() -> None:
    call = forms.push_call_view(
        {
            "received_at": "2026-06-11T09:30:00Z",
            "mode": "test",
            "status_code": 200,
            "error_code": None,
            "summary": {"total": 3, "matched": 2, "unmatched": 1},
            "inserted": 0,
            "unmatched_external_ids": ["nope"],
            "idempotency_replayed": False,
        }
    )
    assert call["mode_label"] == "verify-only" and call["at"] == "2026-06-11T09:30:00Z"
    assert (call["total"], call["matched"], call["unmatched"], call["unmatched_ids"]) == (3, 2, 1, ["nope"])


def test_format_time_and_placeholder_detection() -> None:
    assert forms.format_time("2026-06-11T09:30:00.123Z") == "2026-06-11 09:30:00 UTC"
    assert forms.format_time(None) == "\u2013"
    assert forms.format_time("soon") == "soon"
    assert forms.has_key_placeholder('-H "Authorization: Bearer $QUIVLY_API_KEY"')
    assert not forms.has_key_placeholder('-H "Authorization: Bearer qvk_abc"')
