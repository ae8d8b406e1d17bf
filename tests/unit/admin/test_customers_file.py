"""The customer import file parser shared by ``quivly admin import-customers`` and the panel."""

from __future__ import annotations

import pytest

from ingress.admin.customers_file import CustomersFileError, chunks, parse_customers_file

CSV = """customer_id,name,source,external_id
pied-piper,Pied Piper,salesforce,0015g00000ABC
pied-piper,,hubspot,4711
hooli,Hooli,,
"""


def test_csv_rows_are_grouped_by_customer() -> None:
    parsed = parse_customers_file(CSV, "c.csv")
    assert parsed.rows == 3 and parsed.external_ids == 2 and parsed.row_errors == []
    assert parsed.customers == [
        {
            "customer_id": "pied-piper",
            "name": "Pied Piper",
            "external_ids": [
                {"source": "salesforce", "id": "0015g00000ABC"},
                {"source": "hubspot", "id": "4711"},
            ],
        },
        {"customer_id": "hooli", "name": "Hooli", "external_ids": []},
    ]


def test_csv_header_any_case_any_order_with_bom_and_blank_rows() -> None:
    data = b"\xef\xbb\xbf External_ID ,CUSTOMER_ID,Name,source\r\nA,c1,C1,sf\r\n,,,\r\n"
    parsed = parse_customers_file(data)
    assert parsed.customers == [
        {"customer_id": "c1", "name": "C1", "external_ids": [{"source": "sf", "id": "A"}]}
    ]
    assert parsed.rows == 1


def test_bad_rows_are_reported_with_line_numbers_and_the_rest_is_kept() -> None:
    data = "external_id,customer_id,name,source\nA,,x,sf\nB,c1,C1,\nC,c1,C1,sf\nC,c2,C2,sf\n,c3,,sf\n"
    parsed = parse_customers_file(data)
    assert [line for line, _ in parsed.row_errors] == [2, 3, 5, 6]
    assert "customer_id is empty" in parsed.row_errors[0][1]
    assert "go together" in parsed.row_errors[1][1]
    assert "already used by c1" in parsed.row_errors[2][1]
    assert "go together" in parsed.row_errors[3][1]
    assert [c["customer_id"] for c in parsed.customers] == ["c1"]


def test_names_take_255_characters_like_the_admin_api() -> None:
    ok = parse_customers_file(f"customer_id,name,source,external_id\na,{'n' * 255},,\n")
    assert ok.row_errors == [] and ok.customers[0]["name"] == "n" * 255
    too_long = parse_customers_file(f"customer_id,name,source,external_id\na,{'n' * 256},,\n")
    assert too_long.row_errors == [(2, "name takes at most 255 characters")]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        ("", "c.json", "The file is empty."),
        ("  \n", "c.csv", "The file is empty."),
        (b"", "", "The file is empty."),
        (b"customer_id,name\xff\n", "c.csv", "not UTF-8"),
        ("customer_id,name\na,b\n", "c.csv", "Missing column(s): source, external_id"),
        ("customer_id,name,source,external_id\n", "c.csv", "header but no rows"),
        ('{"x": 1}', "c.json", "Expected"),
        ("{oops", "c.txt", "Malformed JSON"),
    ],
)
def test_unreadable_files_are_explained(data: str | bytes, name: str, message: str) -> None:
    with pytest.raises(CustomersFileError) as info:
        parse_customers_file(data, name)
    assert message in str(info.value)


def test_json_files_either_shape() -> None:
    body = '{"customers": [{"customer_id": "a", "external_ids": [{"source": "s", "id": "1"}]}]}'
    parsed = parse_customers_file(body, "c.json")
    assert parsed.customers[0]["customer_id"] == "a" and parsed.external_ids == 1
    assert parse_customers_file('[{"customer_id": "a"}]', "c.txt").customers == [{"customer_id": "a"}]
    assert parse_customers_file('[{"customer_id": "a"}]', "c.csv", "json").rows == 1
    with pytest.raises(CustomersFileError, match="Unknown format"):
        parse_customers_file("x", "c.csv", "xml")


def test_chunks() -> None:
    items = [{"i": i} for i in range(5)]
    assert [len(c) for c in chunks(items, 2)] == [2, 2, 1]
