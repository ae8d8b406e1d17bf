"""Operations support shared by every process: health and readiness checks, Prometheus metrics,
request IDs and structured logs. Each service hooks it in with a few lines (see docs/operations.md)."""
