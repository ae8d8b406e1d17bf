"""Start-up guard: refuse to run when a partition count changed (keys would move partitions)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from core.settings import KafkaSettings
from streams.tables import changelog_topic_name


class PartitionCountChanged(RuntimeError):
    """The usage topic or the table's changelog has another partition count than configured."""


async def check_partitions(kafka: KafkaSettings, app_id: str) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=kafka.request_timeout_ms
    )
    await admin.start()
    changelog = changelog_topic_name(app_id)
    try:
        # Describe only topics that exist: a metadata request for a missing topic makes some
        # brokers (Tansu, Kafka with auto-create) create it with their default partition count.
        existing = set(await admin.list_topics())
        if kafka.usage_topic not in existing:
            raise PartitionCountChanged(
                f"topic {kafka.usage_topic!r} does not exist: run `quivly provision-topics` first"
            )
        described = await admin.describe_topics([t for t in (kafka.usage_topic, changelog) if t in existing])
    finally:
        await admin.close()
    counts = {e["topic"]: len(e["partitions"]) for e in described if not e.get("error_code")}
    problems = partition_problems(counts, kafka.usage_topic, changelog, kafka.partitions)
    if problems:
        raise PartitionCountChanged("; ".join(problems))


def partition_problems(
    counts: dict[str, int], usage_topic: str, changelog: str, configured: int
) -> list[str]:
    problems = []
    usage = counts.get(usage_topic)
    if usage is not None and usage != configured:
        problems.append(f"topic {usage_topic!r} has {usage} partitions, configuration says {configured}")
    state = counts.get(changelog)
    if state is not None and state != configured:
        problems.append(
            f"table changelog {changelog!r} has {state} partitions, configuration says {configured}"
        )
    return problems
