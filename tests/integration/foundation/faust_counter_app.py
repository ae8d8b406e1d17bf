"""A minimal Faust app for the foundation test: an agent that sums values per key in a table.

Run as a worker subprocess (``python -m tests.integration.foundation.faust_counter_app worker``);
everything comes from the environment so each test run gets its own topic, app id, web port,
data directory and store. After every event the agent writes the whole table and how many events
this process consumed to ``COUNTER_OUTPUT`` (atomically), so the test sees the state the worker
holds. Agents only process events once table recovery has completed, so the first snapshot after a
restart shows the recovered state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import faust


def create_app() -> tuple[faust.App, Any]:
    env = os.environ
    session_timeout_s = int(env.get("COUNTER_SESSION_TIMEOUT_MS", "4000")) / 1000
    app = faust.App(
        env["COUNTER_APP_ID"],
        broker=f"kafka://{env['COUNTER_BOOTSTRAP_SERVERS']}",
        store=env.get("COUNTER_STORE", "memory://"),
        datadir=env["COUNTER_DATA_DIR"],
        autodiscover=False,
        web_enabled=False,
        web_host="127.0.0.1",
        web_port=int(env["COUNTER_WEB_PORT"]),
        topic_partitions=int(env["COUNTER_PARTITIONS"]),
        topic_replication_factor=1,
        producer_max_batch_size=1,  # Tansu: one record per produce batch
        producer_acks=-1,
        broker_session_timeout=session_timeout_s,
        broker_heartbeat_interval=int(env.get("COUNTER_HEARTBEAT_MS", "1000")) / 1000,
        broker_request_timeout=session_timeout_s + 5,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
    )
    topic = app.topic(env["COUNTER_TOPIC"], key_type=str, value_type=str)
    totals = app.Table("totals", default=int, partitions=int(env["COUNTER_PARTITIONS"]))
    output = Path(env["COUNTER_OUTPUT"])

    @app.agent(topic)
    async def count(stream: Any) -> None:
        processed_here = 0  # events this process consumed (a restart must not reprocess old ones)
        async for key, value in stream.items():
            totals[key] = totals[key] + int(value)  # reassign, never mutate in place
            processed_here += 1
            _write_snapshot(output, {"totals": dict(totals.items()), "processed_here": processed_here})

    return app, count


def _write_snapshot(path: Path, snapshot: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(snapshot, sort_keys=True))
    temporary.replace(path)


app, _agent = create_app()

if __name__ == "__main__":
    app.main()
