"""Which ClickHouse insert errors are about the rows (refused) and which are not (transient).

Pure logic: no client import; an error is read through its class names, its ``code`` (the server's
error code, which clickhouse-connect sets) and its message.

* **Refused**: the server (or the client, serializing a column) will never accept these rows as
  they are: a value out of a column's range, a type or parse error, a violated constraint, too
  many partitions in one block. The sink then splits the batch to find exactly the rows that
  cause it (``streams.sink``), dead-letters those and inserts the rest.
* **Transient**: everything else (connection refused or reset, timeouts, overload, too many
  parts, memory limits, a missing table while a migration runs, unknown errors): the sink backs
  off and retries the same rows. Unknown errors are transient on purpose: dead-lettering good
  rows because of an outage would be worse than waiting.
"""

from __future__ import annotations

from typing import Literal

Verdict = Literal["refused", "transient"]

# ClickHouse error codes that mean "these rows cannot be stored as they are".
REFUSED_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        43,  # ILLEGAL_TYPE_OF_ARGUMENT
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        131,  # TOO_LARGE_STRING_SIZE
        190,  # SIZES_OF_ARRAYS_DONT_MATCH
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        395,  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (a throwIf in a view)
        407,  # DECIMAL_OVERFLOW
        469,  # VIOLATED_CONSTRAINT
    }
)
TOO_MANY_PARTS = 252  # also "too many partitions for single INSERT block": only that one is refused
TOO_MANY_PARTITIONS_TEXT = "too many partitions for single insert block"
# clickhouse-connect raises these before sending when a value does not fit its column's type.
CLIENT_REFUSALS = frozenset({"DataError"})


def classify(error: BaseException) -> Verdict:
    code = getattr(error, "code", None)
    if isinstance(code, int):
        if code in REFUSED_CODES:
            return "refused"
        if code == TOO_MANY_PARTS and TOO_MANY_PARTITIONS_TEXT in str(error).lower():
            return "refused"  # splitting the block makes it fit
        return "transient"
    if any(cls.__name__ in CLIENT_REFUSALS for cls in type(error).__mro__):
        return "refused"
    return "transient"


def describe(error: BaseException, limit: int = 1000) -> str:
    """The error as one line for a dead letter: the message and its direct cause, cut at ``limit``."""
    text = f"{type(error).__name__}: {error}"
    if error.__cause__ is not None:
        text += f" ({type(error.__cause__).__name__}: {error.__cause__})"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
