"""``phoenix price-books`` against a real ``phoenix api serve`` (SQLite): an admin adds a book
from a YAML file, everyone lists it; a bad book and a duplicate are refused in one line each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.processes import api_server, run_cli

BOOK = """\
name: our-grafana-contract
vendor: Grafana Labs
product: Grafana Cloud, our 2027 contract
meter: active_series
currency: USD
per: 1000
tiers:
  - {up_to: 50_000, price: 0}
  - {up_to: null, price: 3.20}
included_dpm_per_series: 1
source: https://grafana.com/pricing/
taken: 2027-01-15
note: contract price, renewed yearly
"""


def _token(env: dict[str, str], name: str, role: str) -> str:
    result = run_cli("phoenix", ["token", "create", name, "--role", role], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[dict[str, dict[str, str]]]:
    env = {"PHOENIX_DATA_DIR": str(tmp_path), "PHOENIX_RUN_CONTROLLER": "false"}
    tokens = {"admin": _token(env, "ada", "admin"), "viewer": _token(env, "vera", "viewer")}
    with api_server(env) as (url, _):
        yield {
            who: {"PHOENIX_API_URL": url, "PHOENIX_TOKEN": token} for who, token in tokens.items()
        }


def test_an_admin_adds_a_book_from_yaml_and_everyone_lists_it(
    clients: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "our-grafana.yaml"
    path.write_text(BOOK)
    added = run_cli("phoenix", ["price-books", "add", str(path)], clients["admin"])
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "Price book our-grafana-contract is added."

    listed = run_cli("phoenix", ["price-books", "list", "--output", "json"], clients["viewer"])
    assert listed.returncode == 0, listed.stderr
    books = {b["name"]: b for b in json.loads(listed.stdout)}
    assert books["grafana-cloud-pro"]["origin"] == "shipped"
    ours = books["our-grafana-contract"]
    assert (ours["origin"], ours["created_by"]) == ("added", "user:ada")
    assert ours["taken"] == "2027-01-15"  # YAML's date, sent as ISO text
    assert ours["tiers"] == [{"up_to": 50_000, "price": 0}, {"up_to": None, "price": 3.2}]

    table = run_cli("phoenix", ["price-books", "list"], clients["viewer"])
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("NAME")
    line = next(x for x in table.stdout.splitlines() if x.startswith("our-grafana-contract"))
    assert "added" in line and "(added by user:ada)" in line

    shown = run_cli("phoenix", ["price-books", "show", "our-grafana-contract"], clients["viewer"])
    assert shown.returncode == 0, shown.stderr
    assert "from 50,000 to no bound: 3.2 USD per 1,000" in shown.stdout


def test_bad_books_duplicates_and_viewers_get_one_line_each(
    clients: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BOOK.replace("50_000", "0").replace("vendor: Grafana Labs\n", ""))
    refused = run_cli("phoenix", ["price-books", "add", str(bad)], clients["admin"])
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "vendor: Field required" in refused.stderr
    assert "tiers.0.up_to: Input should be greater than 0" in refused.stderr

    good = tmp_path / "good.json"
    good.write_text(json.dumps({**_parsed(BOOK), "taken": "2027-01-15"}))
    assert run_cli("phoenix", ["price-books", "add", str(good)], clients["admin"]).returncode == 0
    again = run_cli("phoenix", ["price-books", "add", str(good)], clients["admin"])
    assert again.returncode == 1
    assert "'our-grafana-contract' exists already" in again.stderr
    assert "Traceback" not in again.stderr

    viewer = run_cli("phoenix", ["price-books", "add", str(good)], clients["viewer"])
    assert viewer.returncode == 1
    assert "Error:" in viewer.stderr and "Traceback" not in viewer.stderr


def _parsed(text: str) -> dict[str, object]:
    import yaml

    data: dict[str, object] = yaml.safe_load(text)
    return data
