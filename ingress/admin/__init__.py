"""The admin surface, in one place: the admin API (``/admin/v1``, ``router`` and ``push_calls``),
its bearer-token guard (``auth``), the ``quivly admin`` command (``cli``) and the customer import
file parser shared by the command and the panel (``customers_file``).

The rules behind the API (validation, conflicts, snapshots) are the control plane's
(``ingress/control``); the panel (``ingress/panel``) is a client of this API.
"""
