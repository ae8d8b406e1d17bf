"""The push API: ``POST /v1/usage/events`` (validate, resolve, report, produce) and its call log."""
