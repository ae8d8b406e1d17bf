"""BigQuery as a warehouse, through google-cloud-bigquery, read ``page_rows`` rows per API page.

The query binds the watermark as a named TIMESTAMP parameter: ``WHERE updated_at > @since``.
Credentials: a service-account JSON key, which signs its own JWT for each token (AIP-4111: no
token exchange with Google's OAuth server); ``api_endpoint`` (e.g. an emulator) without a key
uses anonymous credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
from google.api_core import exceptions as google_errors
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.cloud import bigquery

from ingress.warehouse.readers import ReadOptions, WarehouseQueryFailed, WarehouseUnavailable, capped
from ingress.warehouse.rows import Page

SINCE_PARAMETER = "@since"


def job_config(query: str, since: datetime) -> bigquery.QueryJobConfig:
    """The query's job: ``@since`` bound as a TIMESTAMP when the query names it."""
    parameters = []
    if SINCE_PARAMETER in query:
        parameters.append(bigquery.ScalarQueryParameter("since", "TIMESTAMP", since))
    return bigquery.QueryJobConfig(query_parameters=parameters, use_legacy_sql=False)


def make_client(connection: dict[str, Any], secrets: dict[str, Any]) -> bigquery.Client:
    endpoint = connection.get("api_endpoint")
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    key = secrets.get("service_account_json")
    if key:
        from google.oauth2 import service_account

        try:
            info = orjson.loads(key)
        except orjson.JSONDecodeError:
            raise WarehouseQueryFailed("the service-account key is not valid JSON") from None
        try:
            key_credentials = service_account.Credentials.from_service_account_info(info)
        except (ValueError, TypeError, AttributeError):  # the message may quote the key: not shown
            raise WarehouseQueryFailed(
                "the service-account key is not a key file (client_email, private_key, token_uri)"
            ) from None
        credentials: Any = key_credentials.with_always_use_jwt_access(True)
    else:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    return bigquery.Client(
        project=connection["project"],
        credentials=credentials,
        location=connection.get("location"),
        client_options=options,
    )


def _retry(options: ReadOptions) -> Retry:
    """The client's own retries, bounded by the connect timeout (the run has its own backoff)."""
    return bigquery.DEFAULT_RETRY.with_timeout(options.connect_timeout_s)


class BigQueryReader:
    def __init__(self, connection: dict[str, Any], secrets: dict[str, Any]) -> None:
        self._connection = connection
        self._secrets = secrets
        self._client: bigquery.Client | None = None

    def pages(self, query: str, since: datetime, options: ReadOptions) -> Iterator[Page]:
        read = 0
        try:
            if self._client is None:
                self._client = make_client(self._connection, self._secrets)
            job = self._client.query(
                query, job_config=job_config(query, since), retry=_retry(options), job_retry=None
            )
            result = job.result(
                page_size=options.page_rows,
                max_results=options.max_rows,
                retry=_retry(options),
                timeout=options.query_timeout_s,
            )
            columns = [field.name for field in result.schema or []]
            for page in result.pages:
                rows, done = capped([tuple(row.values()) for row in page], read, options.max_rows)
                read += len(rows)
                yield Page(columns, rows)
                if done:
                    return
            if read == 0:
                yield Page(columns, [])
        except google_errors.ClientError as exc:
            raise WarehouseQueryFailed(f"BigQuery rejected the query: {exc.message}") from None
        except (google_errors.GoogleAPIError, OSError) as exc:
            raise WarehouseUnavailable(f"BigQuery is unreachable: {exc}") from None
        except Exception as exc:  # requests' ConnectionError and the client's RetryError
            if type(exc).__module__.startswith(("requests", "urllib3", "google")):
                raise WarehouseUnavailable(f"BigQuery is unreachable: {exc}") from None
            raise

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
