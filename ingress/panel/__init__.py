"""The web configuration panel (``/admin/``): server-rendered pages over the admin JSON API."""
