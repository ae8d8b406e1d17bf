"""Pieces shared by ingress, streams and query: settings, the usage record, the replace key,
period bucketing, event IDs, API-key hashing, topic and table names.

Pure logic only (plus the settings classes); no FastAPI, Faust, aiokafka or clickhouse-connect here.
"""
