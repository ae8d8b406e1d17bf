"""Builds the Faust app (and nothing else): settings for the broker, the store and the web port."""

from __future__ import annotations

import faust

from core.settings import KafkaSettings
from streams.faust_internals import App
from streams.settings import StreamsSettings


def create_app(kafka: KafkaSettings, streams: StreamsSettings) -> faust.App:
    app = App(
        streams.app_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        store=streams.store_url,
        datadir=str(streams.data_dir),
        autodiscover=False,
        web_enabled=False,  # the operations endpoints are streams.ops's server, on web_port
        web_host="127.0.0.1",
        web_port=streams.web_port,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        # Batches are safe on Tansu too: recovery corrects ListOffsets (see streams.end_offsets).
        producer_max_batch_size=streams.producer_max_batch_size,
        producer_linger=streams.producer_linger_s,
        producer_acks=-1,
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        broker_heartbeat_interval=kafka.heartbeat_interval_ms / 1000,
        broker_request_timeout=max(kafka.request_timeout_ms / 1000, kafka.session_timeout_ms / 1000 + 1),
        broker_commit_interval=streams.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=streams.stream_buffer_maxsize,
        table_standby_replicas=0,
    )
    app.fetch_max_wait_ms = streams.fetch_max_wait_ms
    return app
