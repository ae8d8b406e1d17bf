"""Control plane: organizations, API keys, customers, Push API configurations, metrics.

ClickHouse tables are the source of truth; each ingress replica keeps an in-memory snapshot
refreshed in the background (see ``runtime.ControlPlane``).
"""
