"""Which broker answers turn the idempotent producer off in ``auto`` mode (no I/O)."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    SaslAuthenticationFailed,
    UnknownError,
    UnsupportedVersionError,
)

from core.settings import KafkaSettings
from ingress.push.event_log import KafkaEventLog
from ingress.settings import IngressSettings


def _log(mode: str) -> KafkaEventLog:
    return KafkaEventLog(KafkaSettings(), IngressSettings(producer_idempotence=mode))  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [UnknownError(), UnsupportedVersionError()])
def test_a_broker_without_idempotent_producers_turns_it_off_in_auto_mode_only(error: Exception) -> None:
    assert _log("auto")._may_drop_idempotence(error)
    assert not _log("on")._may_drop_idempotence(error)


@pytest.mark.parametrize(
    "error",
    [
        ClusterAuthorizationFailedError(),  # no IdempotentWrite permission: fix the ACL, keep it on
        SaslAuthenticationFailed(),
        KafkaConnectionError(),
        KafkaTimeoutError(),
        RuntimeError("a bug"),
    ],
)
def test_authorization_and_transient_errors_keep_idempotence(error: Exception) -> None:
    assert not _log("auto")._may_drop_idempotence(error)
