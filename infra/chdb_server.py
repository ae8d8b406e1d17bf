"""A dev/test-only ClickHouse HTTP endpoint backed by chdb (the ClickHouse engine in-process).

NOT FOR PRODUCTION. chdb opens a data directory from one process only and has no server mode,
so this process owns the directory and speaks the subset of the ClickHouse HTTP interface that
clickhouse-connect (and curl users) need: the query in the URL or the body, ``database``,
server-side ``param_<name>`` parameters, settings as URL parameters, inserts whose data is the
request body, compressed request and response bodies (lz4 frame, zstd, gzip, deflate), and
ClickHouse's own error text with ``X-ClickHouse-Exception-Code``. Statements run on a small pool
of chdb connections to the same directory (one embedded server): each connection runs one
statement at a time and keeps its own session state (database, settings), and different
connections run concurrently, so a read does not queue behind an insert. It binds to 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import lz4.frame
import orjson
import zstandard
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

log = logging.getLogger("quivly.chdb_server")

WARNING_BANNER = (
    "quivly chdb endpoint: a DEV/TEST-ONLY stand-in for ClickHouse. NOT FOR PRODUCTION: "
    "one process, a few concurrent connections, no auth, loopback only."
)

# URL parameters of the HTTP interface that are not query settings.
_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "enable_http_compression",
        "http_zlib_compression_level",
        "wait_end_of_query",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "buffer_size",
        "client_protocol_version",
        "http_native_compression_disable_checksumming_on_decompress",
        "role",
    }
)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRAILING_FORMAT = re.compile(r"^(?P<head>.*?)\s+FORMAT\s+(?P<fmt>[A-Za-z0-9_]+)\s*;?\s*$", re.S | re.I)
_USE = re.compile(r"^\s*USE\s", re.I)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s", re.I)
# An INSERT whose data follows the statement in the body: "INSERT ... FORMAT Name\n<data>".
_INSERT_WITH_DATA = re.compile(rb"^(\s*INSERT\s+INTO\s.*?\sFORMAT\s+[A-Za-z0-9_]+)[ \t]*\r?\n", re.S | re.I)
_ERROR_CODE = re.compile(r"Code:\s*(\d+)")
_ERROR_NAME = re.compile(r"\(([A-Z_]+)\)\s*$")
_NOT_FOUND_CODES = frozenset({60, 81})  # UNKNOWN_TABLE, UNKNOWN_DATABASE
_SERVER_ERROR_CODES = frozenset({241, 159, 209, 210})  # memory limit, timeouts, socket errors


class ClickHouseError(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        match = _ERROR_CODE.search(text)
        self.code = int(match.group(1)) if match else 1002
        self.text = text if text.startswith("Code:") else f"Code: {self.code}. DB::Exception: {text}"

    @property
    def http_status(self) -> int:
        if self.code in _NOT_FOUND_CODES:
            return 404
        if self.code in _SERVER_ERROR_CODES or self.code == 1002:
            return 500
        return 400


@dataclass
class Statement:
    sql: str
    output_format: str
    database: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    insert_data: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    body: bytes
    output_format: str
    rows_read: int
    rows_written: int


DEFAULT_CONNECTIONS = 4


class ChdbEngine:
    """Owns the chdb data directory; runs each statement on a free connection of its pool."""

    def __init__(self, data_dir: Path, connections: int = DEFAULT_CONNECTIONS) -> None:
        import chdb  # imported here: 0.3 s and ~300 MB, only in the process that owns the data

        if connections < 1:
            raise ValueError("the chdb endpoint needs at least one connection")
        data_dir.mkdir(parents=True, exist_ok=True)
        self._spool_dir = Path(tempfile.mkdtemp(prefix="quivly-chdb-inserts-"))
        self._size = connections
        self._free: queue.SimpleQueue[_Session] = queue.SimpleQueue()
        for _ in range(connections):
            self._free.put(_Session(chdb.connect(str(data_dir)), self._spool_dir))

    def execute(self, statement: Statement) -> Outcome:
        session = self._free.get()
        try:
            return session.execute(statement)
        finally:
            self._free.put(session)

    def close(self) -> None:
        """Closes every connection (waiting for running statements) and removes the insert spool."""
        for _ in range(self._size):
            self._free.get().close()
        shutil.rmtree(self._spool_dir, ignore_errors=True)

    @property
    def spool_dir(self) -> Path:
        return self._spool_dir


class _Session:
    """One chdb connection and its session state; used by one thread at a time."""

    def __init__(self, connection: Any, spool_dir: Path) -> None:
        self._connection = connection
        self._spool_dir = spool_dir
        # The database the connection is on; None when a statement may have changed it (USE ...).
        self._current_database: str | None = "default"
        # The settings the connection holds beyond its defaults (name -> value as sent).
        self._settings: dict[str, str] = {}

    def execute(self, statement: Statement) -> Outcome:
        try:
            self._switch_database(statement.database or "default")
            self._apply_settings(statement.settings)
            return self._execute_statement(statement)
        finally:
            if _USE.match(statement.sql):
                self._current_database = None

    def _apply_settings(self, wanted: dict[str, str]) -> None:
        """Leaves the connection with exactly ``wanted`` over its defaults, changing only what
        differs: clients send the same few settings with every request, and each SET is a chdb
        call (~0.3 ms). The record changes only after a SET succeeded, so it stays true."""
        for name in [name for name in self._settings if name not in wanted]:
            self._run(f"SET {name} = DEFAULT")
            del self._settings[name]
        for name, value in wanted.items():
            if self._settings.get(name) != value:
                self._run(f"SET {name} = {_setting_literal(value)}")
                self._settings[name] = value

    def close(self) -> None:
        self._connection.close()

    def _switch_database(self, database: str) -> None:
        """``USE`` only when needed: each extra chdb call costs about a millisecond per request."""
        if database != self._current_database:
            self._current_database = None
            self._run(f"USE {_quote_identifier(database)}")
            self._current_database = database

    def _execute_statement(self, statement: Statement) -> Outcome:
        if statement.insert_data is None:
            return self._query(statement.sql, statement.output_format, statement.params)
        spool = self._spool_dir / f"insert-{threading.get_ident()}.bin"
        spool.write_bytes(statement.insert_data)
        try:
            return self._query(
                _insert_from_file(statement.sql, spool), statement.output_format, statement.params
            )
        finally:
            spool.unlink(missing_ok=True)

    def _query(self, sql: str, output_format: str, params: dict[str, str]) -> Outcome:
        try:
            result = self._connection.query(sql, output_format, params=params or None)
        except Exception as exc:  # chdb raises ChdbError (a RuntimeError) with ClickHouse's text
            raise ClickHouseError(str(exc).strip()) from None
        if result is None:
            return Outcome(b"", output_format, 0, 0)
        return Outcome(result.bytes(), output_format, int(result.rows_read()), int(result.rows_written()))

    def _run(self, sql: str) -> None:
        self._query(sql, "TabSeparated", {})


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _setting_literal(value: str) -> str:
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _insert_from_file(sql: str, spool: Path) -> str:
    match = _TRAILING_FORMAT.match(sql)
    if not match:
        raise ClickHouseError(
            "Code: 62. DB::Exception: an INSERT with a body needs a FORMAT clause. (SYNTAX_ERROR)"
        )
    path = str(spool).replace("'", "\\'")
    return f"{match.group('head')} FROM INFILE '{path}' FORMAT {match.group('fmt')}"


def decode_body(body: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "").strip().lower()
    if not body or encoding in ("", "identity"):
        return body
    try:
        return _decompress(body, encoding)
    except ClickHouseError:
        raise
    except Exception as exc:  # zlib.error, RuntimeError (lz4), ZstdError: the client's fault
        raise ClickHouseError(
            f"Code: 271. DB::Exception: cannot decompress the {encoding} request body: {exc}. "
            "(CANNOT_DECOMPRESS)"
        ) from None


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "lz4":
        return lz4.frame.decompress(body)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompress(body, max_output_size=1 << 31)
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise ClickHouseError(
        f"Code: 1001. DB::Exception: unsupported Content-Encoding {encoding!r}. (STD_EXCEPTION)"
    )


def encode_body(body: bytes, accept_encoding: str | None) -> tuple[bytes, str | None]:
    offered = [part.split(";")[0].strip().lower() for part in (accept_encoding or "").split(",")]
    for encoding in offered:
        if encoding == "lz4":
            return lz4.frame.compress(body), "lz4"
        if encoding == "zstd":
            return zstandard.ZstdCompressor().compress(body), "zstd"
        if encoding == "gzip":
            compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            return compressor.compress(body) + compressor.flush(), "gzip"
        if encoding == "deflate":
            return zlib.compress(body), "deflate"
    return body, None


def build_statement(query_params: list[tuple[str, str]], body: bytes) -> Statement:
    """Turns the URL parameters and the (decoded) body into one statement, as ClickHouse does."""
    url_query = ""
    database: str | None = None
    default_format = "TabSeparated"
    params: dict[str, str] = {}
    settings: dict[str, str] = {}
    for name, value in query_params:
        if name == "query":
            url_query = value
        elif name == "database":
            database = value or None
        elif name == "default_format":
            default_format = value
        elif name.startswith("param_"):
            params[name.removeprefix("param_")] = value
        elif name not in _TRANSPORT_PARAMS:
            if not _SETTING_NAME.match(name):
                raise ClickHouseError(
                    f"Code: 115. DB::Exception: Unknown setting '{name}'. (UNKNOWN_SETTING)"
                )
            settings[name] = value

    insert_data: bytes | None = None
    embedded_insert = None if url_query else _INSERT_WITH_DATA.match(body)
    if embedded_insert:
        sql, insert_data = embedded_insert.group(1).decode("utf-8"), body[embedded_insert.end() :]
    elif url_query and body and _INSERT.match(url_query):
        sql, insert_data = url_query, body
    elif url_query and body:
        sql = url_query + "\n" + body.decode("utf-8")
    else:
        sql = url_query or body.decode("utf-8")
    if not sql.strip():
        raise ClickHouseError("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
    match = _TRAILING_FORMAT.match(sql) if insert_data is None else None
    output_format = match.group("fmt") if match else default_format
    return Statement(sql, output_format, database, params, settings, insert_data)


def create_app(data_dir: Path, connections: int = DEFAULT_CONNECTIONS) -> Starlette:
    engine_holder: dict[str, ChdbEngine] = {}

    def engine() -> ChdbEngine:
        if "engine" not in engine_holder:
            engine_holder["engine"] = ChdbEngine(data_dir, connections)
        return engine_holder["engine"]

    async def ping(_: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def handle(request: Request) -> Response:
        try:
            query_params, body = await _read_request(request)
            statement = build_statement(query_params, body)
            outcome = await anyio.to_thread.run_sync(engine().execute, statement)
        except ClickHouseError as exc:
            return PlainTextResponse(
                exc.text + "\n",
                status_code=exc.http_status,
                headers={"X-ClickHouse-Exception-Code": str(exc.code)},
            )
        except (UnicodeDecodeError, ValueError, OSError) as exc:
            return PlainTextResponse(
                f"Code: 27. DB::Exception: cannot read the request: {exc}. "
                "(CANNOT_PARSE_INPUT_ASSERTION_FAILED)\n",
                status_code=400,
                headers={"X-ClickHouse-Exception-Code": "27"},
            )
        except Exception as exc:  # never a bare 500 without ClickHouse's error shape
            log.exception("unexpected error in the chdb endpoint")
            return PlainTextResponse(
                f"Code: 1001. DB::Exception: {type(exc).__name__}: {exc}. (STD_EXCEPTION)\n",
                status_code=500,
                headers={"X-ClickHouse-Exception-Code": "1001"},
            )
        return _success_response(request, outcome)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if "engine" in engine_holder:
            engine_holder.pop("engine").close()

    with_lifespan = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET", "HEAD"]),
            Route("/", handle, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )
    with_lifespan.state.engine = engine
    return with_lifespan


async def _read_request(request: Request) -> tuple[list[tuple[str, str]], bytes]:
    """URL parameters plus, for multipart forms (clickhouse-connect sends large parameter sets
    that way), the form fields; and the decoded body."""
    query_params = list(request.query_params.multi_items())
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return query_params, decode_body(await request.body(), request.headers.get("content-encoding"))
    form = await request.form(max_part_size=64 * 1024 * 1024)
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise ClickHouseError(
                "Code: 48. DB::Exception: external data tables are not supported by the chdb endpoint. "
                "(NOT_IMPLEMENTED)"
            )
        query_params.append((name, value))
    return query_params, b""


def _success_response(request: Request, outcome: Outcome) -> Response:
    headers = {
        "X-ClickHouse-Format": outcome.output_format,
        "X-ClickHouse-Summary": orjson.dumps(
            {
                "read_rows": str(outcome.rows_read),
                "written_rows": str(outcome.rows_written),
                "result_rows": "0",
            }
        ).decode(),
        "X-ClickHouse-Server-Display-Name": "quivly-chdb",
    }
    body = outcome.body
    if request.query_params.get("enable_http_compression") == "1":
        body, encoding = encode_body(body, request.headers.get("accept-encoding"))
        if encoding:
            headers["Content-Encoding"] = encoding
    return Response(body, status_code=200, headers=headers, media_type=None)


def serve(data_dir: Path, port: int, connections: int = DEFAULT_CONNECTIONS) -> None:
    """Runs the endpoint in the foreground on 127.0.0.1:port."""
    import uvicorn

    from core.ops.logs import configure_logging, logging_config

    configure_logging("chdb-server", level="warning")
    log.warning(WARNING_BANNER)
    os.environ.setdefault("CHDB_DISABLE_PROGRESS", "1")
    app = create_app(data_dir, connections)
    app.state.engine()  # open the directory now, so a lock conflict fails at start-up
    log_config = logging_config("chdb-server", level="warning")  # the same format for uvicorn's lines
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=log_config, access_log=False)
