import pytest

from core.clickhouse import make_client
from core.names import SCHEMA_MIGRATIONS, USAGE_EVENTS
from core.settings import ClickHouseSettings


@pytest.mark.clickhouse
def test_migrations_are_applied(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    assert client.command(f"SELECT count() FROM {SCHEMA_MIGRATIONS}") >= 2
    assert client.command(f"EXISTS TABLE {USAGE_EVENTS}") == 1
