"""The admin API (``/admin/v1``): bearer admin token, used by the panel, the CLI and operators."""
