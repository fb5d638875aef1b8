"""``notebooks/cost-analysis.ipynb`` against a real Phoenix: one experiment run by real
collectors and analysed by the controller (``support.analysed``). Given the API's URL, a
viewer's token and its other parameters, the notebook shows tables whose numbers equal the
API's own answers (``…/verdict``, ``…/kpis``, ``…/cost`` under every price book) and plots; an
API it cannot use stops its first cell with the reason."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from papermill import PapermillExecutionError

from support.analysed import Analysed
from support.notebooks import (
    NOTEBOOKS,
    PLOT_MIMETYPES,
    Executed,
    cell,
    close,
    execute,
    failed_cells,
    mimetypes,
    report_seconds,
    tables,
)

NOTEBOOK = NOTEBOOKS / "cost-analysis.ipynb"
FLEET = 250
SCRAPE_AT = 15.0
MONEY = "USD"


@pytest.fixture(scope="module")
def run(
    analysed: Analysed, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Executed]:
    """The notebook on the analysed experiment, every price book, 250 hosts at 15 s scrapes."""
    output = tmp_path_factory.mktemp("notebook") / NOTEBOOK.name
    executed = execute(
        NOTEBOOK,
        output,
        api_url=analysed.world.url,
        token=analysed.viewer_token,
        experiment_ids=[analysed.experiment],
        fleet_hosts=FLEET,
        scrape_interval_seconds=SCRAPE_AT,
    )
    what = f"{NOTEBOOK.name}, one experiment, every price book"
    print(f"\n{what}: executed in {executed.seconds:.1f} s")
    report_seconds(request.config, executed, what)
    yield executed


def _get(analysed: Analysed, path: str, **params: Any) -> Any:
    answer = analysed.world.operator.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_verdict_tables_are_the_apis_verdict(analysed: Analysed, run: Executed) -> None:
    verdict = _get(analysed, f"/api/v1/experiments/{analysed.experiment}/verdict")
    overview, reasons = tables(cell(run.notebook, "verdicts"))
    (row,) = overview.to_dict("records")
    expected_row = {
        "experiment": analysed.experiment,
        "outcome": verdict["outcome"],
        "winner": verdict["winner"],
        "candidates passing": sum(c["outcome"] == "pass" for c in verdict["candidates"]),
        "candidates": len(verdict["candidates"]),
        "samples from": verdict["source"],
    }
    assert {column: row[column] for column in expected_row} == expected_row
    expected = [("experiment", verdict["outcome"], "reason", text) for text in verdict["reasons"]]
    for candidate in verdict["candidates"]:
        for kind in ("reasons", "notes"):
            expected += [
                (candidate["variant"], candidate["outcome"], kind[:-1], text)
                for text in candidate[kind]
            ]
    shown = reasons[["about", "outcome", "kind", "text"]].itertuples(index=False, name=None)
    assert list(shown) == expected
    outcomes = {c["variant"]: c["outcome"] for c in verdict["candidates"]}
    assert outcomes["nolatency"] == "fail"  # exact counts: 200 of 210 series, short of -20 %


def test_the_experiment_and_its_window_are_shown(analysed: Analysed, run: Executed) -> None:
    verdict = _get(analysed, f"/api/v1/experiments/{analysed.experiment}/verdict")
    (overview,) = tables(cell(run.notebook, "experiments"))
    (row,) = overview.to_dict("records")
    assert row["experiment"] == analysed.experiment
    assert row["variants"] == "baseline, ok-codes, nolatency" and row["hosts measured"] == 1
    assert row["window start (UTC)"] == verdict["window_start"][:19].replace("T", " ")
    assert row["window end (UTC)"] == verdict["window_end"][:19].replace("T", " ")
    assert 30 < row["window (s)"] < 40


def test_the_kpi_tables_are_the_apis_kpis(analysed: Analysed, run: Executed) -> None:
    experiment = analysed.experiment
    measured, compared = tables(cell(run.notebook, "kpis"))
    per_host = [
        r for r in _get(analysed, f"/api/v1/experiments/{experiment}/kpis")["kpis"] if r["host"]
    ]
    shown = {(r["kpi"], r["unit"], r["host"]): r for r in measured.to_dict("records")}
    assert len(shown) == len({(r["kpi"], r["host"]) for r in per_host})
    for row in per_host:
        value = shown[row["kpi"], row["unit"], row["host"]][f"{row['variant']} (median)"]
        assert close(value, row["value"]), row
    assert shown["active_series", "series", "web-1"]["ok-codes (median)"] == 60

    comparisons = _get(analysed, f"/api/v1/experiments/{experiment}/verdict")["comparisons"]
    baseline = {r["kpi"]: r["value"] for r in comparisons if r["details"]["role"] == "baseline"}
    candidates = [r for r in comparisons if r["details"]["role"] != "baseline"]
    rows = compared.to_dict("records")
    assert [(r["kpi"], r["candidate"]) for r in rows] == [
        (r["kpi"], r["variant"]) for r in candidates
    ]
    for row, api in zip(rows, candidates, strict=True):
        details = api["details"]
        assert row["unit"] == api["unit"] and row["outcome"] == details["outcome"]
        pairs = {
            "baseline centre": baseline[api["kpi"]],
            "candidate centre": api["value"],
            "change (%)": api["change_percent"],
            "change 95% low (%)": api["ci_low"],
            "change 95% high (%)": api["ci_high"],
            "p-value": api["p_value"],
            "Holm p-value": details.get("p_holm"),
            "baseline samples": details.get("n_baseline"),
            "candidate samples": details.get("n_candidate"),
        }
        for column, expected in pairs.items():
            assert close(row[column], expected), (api["kpi"], api["variant"], column)


def test_the_cost_tables_are_the_apis_cost_under_every_price_book(
    analysed: Analysed, run: Executed
) -> None:
    books = [b["name"] for b in _get(analysed, "/api/v1/price-books")]
    assert len(books) >= 6  # every shipped book
    (listed,) = tables(cell(run.notebook, "price-books"))
    assert list(listed["price book"]) == books
    (table,) = tables(cell(run.notebook, "cost"))
    assert list(dict.fromkeys(table["price book"])) == books
    (side_by_side,) = tables(cell(run.notebook, "comparison"))
    for book in books:
        cost = _get(
            analysed,
            f"/api/v1/experiments/{analysed.experiment}/cost",
            price_book=book,
            fleet_hosts=FLEET,
            scrape_interval_seconds=SCRAPE_AT,
        )
        shown = {r["variant"]: r for r in table[table["price book"] == book].to_dict("records")}
        assert list(shown) == [v["variant"] for v in cost["variants"]], book
        base = cost["variants"][0]["monthly"]["value"]
        for v in cost["variants"]:
            row = shown[v["variant"]]
            saves, yearly = v["savings_monthly"] or {}, v["savings_yearly"] or {}
            pairs = {
                "billed per month": v["billable_per_month"]["value"],
                f"monthly ({MONEY}/month)": v["monthly"]["value"],
                f"monthly 95% low ({MONEY}/month)": v["monthly"]["low"],
                f"monthly 95% high ({MONEY}/month)": v["monthly"]["high"],
                f"savings ({MONEY}/month)": saves.get("value"),
                f"savings 95% low ({MONEY}/month)": saves.get("low"),
                f"savings 95% high ({MONEY}/month)": saves.get("high"),
                f"savings ({MONEY}/year)": yearly.get("value"),
                "savings (% of the baseline's cost)": (
                    100 * saves["value"] / base if saves.get("value") is not None else None
                ),
            }
            for column, expected in pairs.items():
                assert close(row[column], expected), (book, v["variant"], column)
            assert (row["role"], row["currency"]) == (v["role"], cost["currency"])
            pivot = side_by_side[side_by_side["variant"] == v["variant"]][book]
            assert close(pivot.item(), v["monthly"]["value"]), (book, v["variant"])
    grafana = table[(table["price book"] == "grafana-cloud-pro") & (table["variant"] == "ok-codes")]
    assert grafana[f"savings ({MONEY}/month)"].item() > 0  # 60 series a host instead of 210


def test_the_plots_are_there(run: Executed) -> None:
    for tag in ("plot-savings", "plot-kpi-change"):
        assert mimetypes(cell(run.notebook, tag)) >= PLOT_MIMETYPES, tag
    connect = mimetypes(cell(run.notebook, "connect"))
    assert "application/vnd.holoviews_load.v0+json" in connect  # bokeh's scripts, loaded once


def test_without_experiment_ids_it_takes_the_latest_completed(
    analysed: Analysed, tmp_path: Path
) -> None:
    run = execute(
        NOTEBOOK,
        tmp_path / NOTEBOOK.name,
        api_url=analysed.world.url,
        token=analysed.viewer_token,
        price_books=["grafana-cloud-pro"],
    )
    (overview,) = tables(cell(run.notebook, "experiments"))
    assert list(overview["experiment"]) == [analysed.experiment]
    (table,) = tables(cell(run.notebook, "cost"))
    assert set(table["price book"]) == {"grafana-cloud-pro"}


def test_a_wrong_token_stops_the_first_cell(analysed: Analysed, tmp_path: Path) -> None:
    output = tmp_path / NOTEBOOK.name
    with pytest.raises(PapermillExecutionError) as stopped:
        execute(NOTEBOOK, output, api_url=analysed.world.url, token="phx_u_" + "A" * 43)
    assert stopped.value.ename == "Unauthenticated"
    assert "(the token parameter)" in stopped.value.evalue
    assert failed_cells(output) == ["connect"]


def test_an_unreachable_api_stops_the_first_cell(tmp_path: Path) -> None:
    output = tmp_path / NOTEBOOK.name
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(PapermillExecutionError) as stopped:
            execute(NOTEBOOK, output, api_url=url, token="phx_u_" + "A" * 43)
    assert stopped.value.ename == "ApiUnavailable"
    assert f"Cannot reach the Phoenix API at {url} (the api_url parameter)" in stopped.value.evalue
    assert failed_cells(output) == ["connect"]


def test_no_token_stops_the_first_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOENIX_TOKEN", raising=False)  # the kernel inherits the environment
    output = tmp_path / NOTEBOOK.name
    with pytest.raises(PapermillExecutionError) as stopped:
        execute(NOTEBOOK, output, api_url="http://127.0.0.1:9")
    assert stopped.value.ename == "ConfigurationError"
    assert "give the token parameter or set PHOENIX_TOKEN" in stopped.value.evalue
    assert failed_cells(output) == ["connect"]
