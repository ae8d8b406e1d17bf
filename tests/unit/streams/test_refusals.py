"""Classifying ClickHouse insert errors: refused rows versus transient failures."""

from __future__ import annotations

from streams.refusals import classify, describe


class DatabaseError(Exception):  # the shape of clickhouse-connect's errors: a ``code`` attribute
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class DataError(DatabaseError):  # clickhouse-connect's client-side serialization error
    pass


class OperationalError(DatabaseError):
    pass


def test_rows_the_server_cannot_store_are_refused() -> None:
    assert classify(DatabaseError("Code: 321. Value out of range", code=321)) == "refused"
    assert classify(DatabaseError("Code: 53. Type mismatch", code=53)) == "refused"
    too_many = "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100)."
    assert classify(DatabaseError(too_many, code=252)) == "refused"


def test_a_value_the_client_cannot_serialize_is_refused() -> None:
    assert classify(DataError("Unable to create native array for column `period_start`: error")) == "refused"


def test_outages_and_overload_are_transient() -> None:
    assert classify(OperationalError("Error HTTPConnectionPool: Connection refused")) == "transient"
    assert classify(ConnectionResetError()) == "transient"
    assert classify(TimeoutError()) == "transient"
    assert classify(DatabaseError("Code: 252. Too many parts (300). Merges are processing", code=252)) == (
        "transient"
    )
    assert classify(DatabaseError("Code: 241. Memory limit exceeded", code=241)) == "transient"
    assert classify(DatabaseError("Code: 60. Table quivly.usage_event_history does not exist", code=60)) == (
        "transient"
    )
    assert classify(RuntimeError("something unknown")) == "transient"


def test_a_refusal_is_described_with_its_cause_on_one_line() -> None:
    try:
        try:
            raise ValueError("'I' format requires 0 <= number <= 4294967295")
        except ValueError as cause:
            raise DataError("Unable to create native array\nfor column `period_start`") from cause
    except DataError as error:
        text = describe(error)
    assert text == (
        "DataError: Unable to create native array for column `period_start` "
        "(ValueError: 'I' format requires 0 <= number <= 4294967295)"
    )
    assert len(describe(DatabaseError("x" * 5000), limit=100)) == 100
