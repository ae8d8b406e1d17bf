from __future__ import annotations

from typing import Any

from ingress.panel import forms


def test_org_name_is_required_and_bounded() -> None:
    assert forms.validate_org_name("  Acme  ") == ("Acme", {})
    assert "name" in forms.validate_org_name("   ")[1]
    assert "200" in forms.validate_org_name("x" * 201)[1]["name"]


def test_source_and_rollup_choices() -> None:
    assert forms.validate_source("push_api") == ("push_api", {})
    assert "source" in forms.validate_source("")[1]
    assert forms.validate_rollup("max") == ("max", {})
    assert "rollup" in forms.validate_rollup("median")[1]
    assert forms.validate_publish_confirmation("yes") == {}
    assert "confirm" in forms.validate_publish_confirmation(None)


def test_csv_groups_rows_by_customer() -> None:
    data = (
        b"\xef\xbb\xbfcustomer_id,name,source,external_id\r\n"
        b"pied-piper,Pied Piper,salesforce,0015g00000ABC\r\n"
        b"pied-piper,,hubspot,4711\r\n"
        b"hooli,,salesforce,XYZ\r\n"
        b",,,\r\n"
    )
    result = forms.parse_customers_csv(data)
    assert result.file_error is None
    assert result.rows == 3 and result.external_ids == 3 and result.row_errors == []
    assert result.customers == [
        {
            "customer_id": "pied-piper",
            "name": "Pied Piper",
            "external_ids": [
                {"source": "salesforce", "id": "0015g00000ABC"},
                {"source": "hubspot", "id": "4711"},
            ],
        },
        {"customer_id": "hooli", "name": "hooli", "external_ids": [{"source": "salesforce", "id": "XYZ"}]},
    ]


def test_csv_reports_bad_rows_with_line_numbers() -> None:
    data = b"external_id,customer_id,name,source\nA,,x,sf\nB,c1,C1,\nC,c1,C1,sf\nC,c2,C2,sf\n"
    result = forms.parse_customers_csv(data)
    assert [line for line, _ in result.row_errors] == [2, 3, 5]
    assert "customer_id is empty" in result.row_errors[0][1]
    assert "source is empty" in result.row_errors[1][1]
    assert "already used by c1" in result.row_errors[2][1]
    assert [c["customer_id"] for c in result.customers] == ["c1"]


def test_csv_file_errors() -> None:
    assert forms.parse_customers_csv(b"").file_error
    assert "Missing column(s): source" in str(
        forms.parse_customers_csv(b"customer_id,name,external_id\n").file_error
    )
    assert "no rows" in str(forms.parse_customers_csv(b"customer_id,name,source,external_id\n").file_error)
    assert "UTF-8" in str(forms.parse_customers_csv(b"customer_id,name\xff\n").file_error)


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


def test_curl_with_key_fills_placeholder_only_when_needed() -> None:
    assert forms.curl_with_key("curl -H 'Authorization: Bearer <API_KEY>'", "k1") == (
        "curl -H 'Authorization: Bearer k1'"
    )
    assert (
        forms.curl_with_key("curl -H 'Authorization: Bearer k1'", "k1")
        == "curl -H 'Authorization: Bearer k1'"
    )
    assert forms.curl_with_key("curl <API_KEY>", None) == "curl <API_KEY>"


def test_api_error_fields_maps_details_to_fields() -> None:
    body = {
        "error": "bad",
        "code": "VALIDATION_ERROR",
        "details": [{"path": "body.name", "message": "Too long"}],
    }
    assert forms.api_error_fields(body, ("name",)) == ({"name": "Too long"}, None)
    assert forms.api_error_fields({"error": "Conflict"}, ("name",)) == ({}, "Conflict")
    assert forms.api_error_fields(None, ())[1]


def test_normalize_push_call() -> None:
    call = forms.normalize_push_call(
        {
            "received_at": "2026-06-11T09:30:00Z",
            "mode": "test",
            "status_code": 200,
            "summary": {"total": 3, "matched": 2, "unmatched": 1},
            "unmatched_external_ids": ["nope"],
        }
    )
    assert call["mode_label"] == "verify-only"
    assert (call["total"], call["matched"], call["unmatched"], call["unmatched_ids"]) == (3, 2, 1, ["nope"])
    assert forms.normalize_push_call({"mode": "live"})["mode_label"] == "live"


def test_format_time_and_placeholder_detection() -> None:
    assert forms.format_time("2026-06-11T09:30:00.123Z") == "2026-06-11 09:30:00 UTC"
    assert forms.format_time(None) == "\u2013"
    assert forms.format_time("soon") == "soon"
    assert forms.has_key_placeholder('-H "Authorization: Bearer $QUIVLY_API_KEY"')
    assert not forms.has_key_placeholder('-H "Authorization: Bearer qvk_abc"')
