"""Price books through the API (the real app in-process, on SQLite): shipped ones listed, an
admin's added and listed, bad ones refused naming the field, duplicates and non-admins refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from phoenix_core.analysis.price_books import builtin_price_books
from phoenix_core.auth import Role, TokenKind
from phoenix_core.store.database import make_engine
from phoenix_core.store.events import EventRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.asgi import app_on_sqlite, request

PATH = "/api/v1/price-books"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with app_on_sqlite(tmp_path_factory.mktemp("price-books")) as (app, url):
        engine = make_engine(url)
        auth: dict[str, dict[str, str]] = {}
        with Store(engine).session() as session:
            tokens = TokenRepository(session)
            for role, name in [(Role.VIEWER, "vera"), (Role.OPERATOR, "olga"), (Role.ADMIN, "ada")]:
                _, token = tokens.create(TokenKind.USER, name, actor="t", role=role)
                auth[role.value] = {"Authorization": f"Bearer {token}"}
        yield {"app": app, "url": url, "engine": engine, **auth}
        engine.dispose()


def book(**overrides: Any) -> dict[str, Any]:
    """A valid price book as JSON (a contract on active series)."""
    data: dict[str, Any] = {
        "name": "our-grafana-contract",
        "vendor": "Grafana Labs",
        "product": "Grafana Cloud, our 2027 contract",
        "meter": "active_series",
        "currency": "USD",
        "per": 1000,
        "tiers": [{"up_to": 50_000, "price": 0}, {"up_to": None, "price": 3.2}],
        "included_dpm_per_series": 1,
        "source": "https://grafana.com/pricing/",
        "taken": "2027-01-15",
        "note": "contract price, renewed yearly",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def _post(api: dict[str, Any], body: Any, who: str = "admin") -> Any:
    return request(api["app"], "POST", PATH, headers=api[who], json=body)


def test_the_shipped_books_are_listed(api: dict[str, Any]) -> None:
    response = request(api["app"], "GET", PATH, headers=api["viewer"])
    assert response.status_code == 200, response.text
    listed = {b["name"]: b for b in response.json()}
    assert set(builtin_price_books()) <= set(listed)
    amazon = listed["amazon-managed-prometheus"]
    assert amazon["origin"] == "shipped"
    assert amazon["created_by"] is None
    assert amazon["meter"] == "samples_ingested"
    assert amazon["tiers"][0] == {"up_to": 2e9, "price": 0.9}
    assert amazon["taken"] == "2026-12-05"
    one = request(api["app"], "GET", f"{PATH}/new-relic", headers=api["viewer"]).json()
    assert (one["vendor"], one["origin"]) == ("New Relic", "shipped")


def test_an_added_book_is_listed_and_read_with_who_added_it(api: dict[str, Any]) -> None:
    body = book(name="contract-a")
    created = _post(api, body)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{PATH}/contract-a"
    added = created.json()
    assert added["origin"] == "added"
    assert added["created_by"] == "user:ada"
    assert added["created_at"]
    assert added["tiers"] == [{"up_to": 50_000, "price": 0}, {"up_to": None, "price": 3.2}]
    listed = request(api["app"], "GET", PATH, headers=api["viewer"]).json()
    assert [b for b in listed if b["name"] == "contract-a"] == [added]
    origins = [b["origin"] for b in listed]
    assert origins == sorted(origins, key=lambda origin: origin != "shipped")  # shipped first
    got = request(api["app"], "GET", f"{PATH}/contract-a", headers=api["viewer"])
    assert got.status_code == 200
    assert got.json() == added
    with Store(api["engine"]).session() as session:
        events = [e for e in EventRepository(session).list() if e.type == "price_book_added"]
    assert [(e.actor, e.data["name"]) for e in events] == [("user:ada", "contract-a")]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (
            book(tiers=[{"up_to": 100, "price": 1}, {"up_to": 50, "price": 1}, {"price": 1}]),
            "tiers.1.up_to",
            "tiers overlap",
        ),
        (book(vendor=...), "vendor", "Field required"),
        (book(meter="bytes"), "meter", "Input should be"),
        (book(tiers=[{"up_to": None, "price": -1}]), "tiers.0.price", "greater than or equal"),
        (book(included_dpm_per_series=2, meter="gb_ingested"), "included_dpm_per_series", ""),
        (book(colour="red"), "colour", "Extra inputs are not permitted"),
        (["not", "a", "mapping"], "", "must be a mapping"),
    ],
)
def test_a_bad_book_gets_a_problem_naming_the_field(
    api: dict[str, Any], body: Any, path: str, message: str
) -> None:
    response = _post(api, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    by_path = {".".join(map(str, e["loc"])): e["msg"] for e in problem["errors"]}
    assert path in by_path, problem
    assert message in by_path[path]
    assert path in problem["detail"]


def test_a_name_taken_by_a_shipped_or_added_book_is_a_conflict(api: dict[str, Any]) -> None:
    assert _post(api, book(name="contract-b")).status_code == 201
    again = _post(api, book(name="contract-b", vendor="Someone else"))
    assert again.status_code == 409, again.text
    assert "contract-b" in again.json()["detail"]
    shipped = _post(api, book(name="new-relic"))
    assert shipped.status_code == 409, shipped.text
    assert "ships with Phoenix" in shipped.json()["detail"]
    kept = request(api["app"], "GET", f"{PATH}/contract-b", headers=api["viewer"]).json()
    assert kept["vendor"] == "Grafana Labs"


def test_only_admins_add_books(api: dict[str, Any]) -> None:
    for who in ("viewer", "operator"):
        response = _post(api, book(name=f"by-{who}"), who=who)
        assert response.status_code == 403, response.text
    missing = request(api["app"], "GET", f"{PATH}/by-operator", headers=api["viewer"])
    assert missing.status_code == 404


def test_an_unknown_book_is_not_found_naming_the_known_ones(api: dict[str, Any]) -> None:
    response = request(api["app"], "GET", f"{PATH}/nope", headers=api["viewer"])
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "'nope'" in detail
    assert "grafana-cloud-pro" in detail
