"""The shared service edge: error bodies, field paths, body limits, bearer guard, dependency down."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Query, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from core.edge import bearer_guard, install_edge, is_dependency_down, read_body, read_json
from core.errors import field_path


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("body", "events", 3, "value"), "events[3].value"),
        (("body", "customers", 0, "external_ids", 1, "id"), "customers[0].external_ids[1].id"),
        (("body", "metric_keys", 2), "metric_keys[2]"),
        (("body",), "body"),
        ((), "body"),
        (("query", "limit"), "query.limit"),
    ],
)
def test_one_field_path_format(loc: tuple[Any, ...], path: str) -> None:
    assert field_path(loc) == path


class Item(BaseModel):
    value: int


class Items(BaseModel):
    items: list[Item]


def _app(retry_after_s: int = 7) -> FastAPI:
    app = FastAPI()
    install_edge(app, retry_after_s)
    guard = bearer_guard(lambda: "s3cret", "Invalid or missing token", "a token")

    @app.post("/limited")
    async def limited(request: Request) -> dict[str, int]:
        return {"size": len(await read_body(request, 16))}

    @app.post("/json")
    async def json_body(request: Request) -> Any:
        return await read_json(request, 1024, optional=True)

    @app.post("/model")
    async def model(body: Items, limit: Annotated[int, Query(ge=1)] = 1) -> dict[str, int]:
        return {"n": len(body.items)}

    @app.get("/guarded", dependencies=[Depends(guard)])
    async def guarded() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/down")
    async def down() -> None:
        raise ConnectionRefusedError("broker unreachable")

    @app.get("/bug")
    async def bug() -> None:
        raise KeyError("secret-internal-detail")

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def test_bodies_over_the_limit_are_413_whether_declared_or_streamed(client: TestClient) -> None:
    assert client.post("/limited", content=b"x" * 16).json() == {"size": 16}
    declared = client.post("/limited", content=b"x" * 17)
    assert declared.status_code == 413 and declared.json()["code"] == "PAYLOAD_TOO_LARGE"

    def chunks() -> Any:
        yield b"x" * 10
        yield b"x" * 10

    streamed = client.post("/limited", content=chunks())  # chunked: no Content-Length
    assert streamed.status_code == 413 and streamed.json()["success"] is False


def test_json_bodies(client: TestClient) -> None:
    assert client.post("/json", content=b"").json() == {}
    malformed = client.post("/json", content=b"{nope")
    assert malformed.status_code == 422
    assert malformed.json()["details"] == [{"path": "body", "message": "malformed JSON"}]


def test_request_validation_uses_the_field_path_format(client: TestClient) -> None:
    response = client.post("/model?limit=0", json={"items": [{"value": 1}, {"value": "x"}]})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert {d["path"] for d in body["details"]} == {"items[1].value", "query.limit"}


def test_bearer_guard(client: TestClient) -> None:
    assert client.get("/guarded", headers={"Authorization": "Bearer s3cret"}).json() == {"ok": True}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic s3cret"}):
        refused = client.get("/guarded", headers=headers)
        assert refused.status_code == 401 and refused.json()["code"] == "UNAUTHORIZED"
        assert refused.headers["WWW-Authenticate"] == "Bearer"


def test_a_dependency_down_is_503_with_the_configured_retry_after(client: TestClient) -> None:
    response = client.get("/down")
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert response.json()["code"] == "UNAVAILABLE"


def test_a_bug_is_a_500_without_details(client: TestClient) -> None:
    response = client.get("/bug")
    assert response.status_code == 500
    assert response.json() == {"success": False, "error": "Internal server error", "code": "INTERNAL_ERROR"}
    assert "secret-internal-detail" not in response.text


def test_unknown_routes_keep_the_error_body(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_dependency_errors_are_recognised_by_their_client_module() -> None:
    from clickhouse_connect.driver.exceptions import OperationalError

    assert is_dependency_down(OperationalError("connection refused"))
    assert is_dependency_down(TimeoutError())
    assert not is_dependency_down(ValueError("a bug"))
