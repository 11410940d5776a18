"""`wattstream report` end to end: stored windows and alerts in the job's layout, read through
real Spark (file:// and a live HDFS), the page's figures against the Parquet worked out with
pandas, and the page opened in a real headless Chromium."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from reportkit import BUILDINGS, Figures, config, expected, metadata, run_report, store

pytestmark = pytest.mark.integration

# Columns of the portfolio's building table (page._portfolio).
COLUMNS = ["building", "type", "energy_kwh", "energy_cost", "demand_charge", "total_cost",
           "co2_kg", "peak_kw", "load_factor", "saving_cost", "alerts"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    warehouse = root / "warehouse"
    store(warehouse)
    cfg = config(root / "wattstream.yaml", warehouse.as_uri(), metadata(root / "b.csv"))
    proc = run_report(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = warehouse / "reports" / "report-2026-06-22.html"  # the default output
    return root, warehouse, cfg, proc, page


def test_the_page_is_written_where_the_cronjob_expects_it(stored):
    _, _, _, proc, page = stored
    assert page.is_file(), proc.stdout
    assert "report: 8 buildings, 2026-06-01 00:00 to 2026-06-22 00:00 UTC" in proc.stdout
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "data:image/png;base64," in text
    assert "http://" not in text and "https://" not in text  # nothing to fetch: offline


def test_the_figures_equal_the_parquet_worked_out_apart(stored):
    _, warehouse, _, _, page = stored
    want = expected(warehouse)
    fig = Figures(page.read_text())
    rows = fig.rows["buildings-table"]
    assert sorted(rows) == BUILDINGS
    for b in BUILDINGS:
        got = dict(zip(COLUMNS, rows[b], strict=True))
        for col in ("energy_kwh", "energy_cost", "demand_charge", "total_cost", "co2_kg",
                    "peak_kw", "alerts"):
            assert got[col] == pytest.approx(want.loc[b, col], rel=1e-9), (b, col)
    # Sorted by cost; the cards are the sums.
    totals = [rows[b][COLUMNS.index("total_cost")] for b in rows]
    assert totals == sorted(totals, reverse=True)
    assert fig.cards["total-energy"] == pytest.approx(want["energy_kwh"].sum(), rel=1e-9)
    assert fig.cards["total-cost"] == pytest.approx(want["total_cost"].sum(), rel=1e-9)
    assert fig.cards["total-co2"] == pytest.approx(want["co2_kg"].sum() / 1000, rel=1e-9)


def test_alerts_in_back_to_back_windows_are_one_episode(stored):
    _, _, _, _, page = stored
    fig = Figures(page.read_text())
    # building (text), episodes, alert windows, longest, hours under alert
    rows = fig.rows["episode-buildings"]
    assert rows["b-5"] == [None, 2, 4, 3, pytest.approx(20 / 60, abs=0.05)]
    assert rows["b-6"] == [None, 1, 1, 1, pytest.approx(5 / 60, abs=0.05)]
    assert "b-1" not in rows  # its alert is before the period
    assert list(rows)[0] == "b-5"  # most windows first


def test_the_recommendations_name_the_faults_of_the_fleet(stored):
    _, _, _, _, page = stored
    text = page.read_text()
    fig = Figures(text)
    # 21 days of June hold no whole billing month: the findings are listed as provisional,
    # not ranked, and say why.
    assert "recommendations-table" not in fig.rows
    recs = fig.rows["provisional-table"]
    assert "no complete billing month" in text and "annualised from only 21 days" in text
    assert "b-7" in recs and 'data-building="b-7" data-rule="after_hours"' in text
    assert 'data-building="b-6" data-rule="peak_shaving"' in text
    assert "2026-06-09" in text  # the night b-7 was left on, in its evidence
    quality = fig.rows["quality-table"]
    assert {"b-2", "b-3", "b-5"} <= set(quality)  # stuck, gap, a missing day
    assert quality["b-5"][2] == 288  # missing windows
    assert quality["b-4"][-1] == 10  # readings whose local fields disagree with the zone
    # The days the baselines took as days off, with their buildings.
    assert "<li>2026-06-19 Juneteenth National Independence Day (US): 7 building(s)</li>" \
        in text
    assert "<li>2026-06-05 closure: 1 building(s)</li>" in text
    # Building pages: the three with the most to save.
    assert text.count('class="building"') == 3
    assert 'id="building-b-7"' in text


def test_one_building_on_demand(stored, tmp_path):
    _, _, cfg, _, _ = stored
    out = tmp_path / "b3.html"
    proc = run_report(cfg, "--building", "b-3", "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.count('class="building"') == 1 and 'id="building-b-3"' in text
    assert "METER_GAP" in text
    bad = run_report(cfg, "--building", "nope", "--output", str(tmp_path / "x.html"))
    assert bad.returncode != 0 and "building 'nope' has no stored windows" in bad.stderr


def test_the_report_reads_and_writes_hdfs(stored, hdfs_cfg, tmp_path):
    """The CronJob's case: windows and alerts on HDFS, the page written back there."""
    _, warehouse, _, _, local_page = stored
    storage = hdfs_cfg.storage.uri.rsplit("/", 1)[0] + "/report-test"
    web = _webhdfs(hdfs_cfg)
    for f in sorted(warehouse.rglob("*.parquet")):
        if "reports" not in f.parts:
            _put(web, storage + "/" + f.relative_to(warehouse).as_posix(), f.read_bytes())
    cfg = config(tmp_path / "wattstream.yaml", storage, metadata(tmp_path / "b.csv"))
    proc = run_report(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = _get(web, storage + "/reports/report-2026-06-22.html").decode()
    local = Figures(local_page.read_text())
    remote = Figures(text)
    assert remote.rows["buildings-table"] == local.rows["buildings-table"]
    assert remote.cards == local.cards


def test_the_page_opens_in_chromium_without_errors_and_its_plots_render(stored, tmp_path):
    from playwright.sync_api import sync_playwright

    _, warehouse, _, _, page_file = stored
    want = expected(warehouse)
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is missing: `make chromium` installs Debian's package"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems = []
            page.on("console", lambda m: problems.append(m.text) if m.type in (
                "error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request {r.url}"))
            page.goto(page_file.as_uri(), wait_until="load")
            assert problems == []
            # Every plot decoded to a real image.
            sizes = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
            assert len(sizes) >= 5 and all(c and w > 200 and h > 100 for c, w, h in sizes)
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
            pixels = _pixels(shot)
            assert pixels.std() > 0.05 and len(np.unique(pixels.reshape(-1, pixels.shape[-1]),
                                                         axis=0)) > 50  # not blank
            # What the browser shows equals the Parquet.
            shown = page.eval_on_selector_all(
                "#buildings-table tbody tr",
                "rows => rows.map(r => [r.dataset.building, "
                "parseFloat(r.cells[2].dataset.value), r.cells[7].textContent])")
            for b, kwh, peak_text in shown:
                assert kwh == pytest.approx(want.loc[b, "energy_kwh"], rel=1e-9)
                assert peak_text == f"{want.loc[b, 'peak_kw']:,.1f}"
            # A click on a header sorts the table (the page's script runs).
            page.click("#buildings-table th:nth-child(3)")
            kwh = page.eval_on_selector_all(
                "#buildings-table tbody tr", "rows => rows.map(r => "
                "parseFloat(r.cells[2].dataset.value))")
            assert kwh == sorted(kwh, reverse=True) and kwh != [v for _, v, _ in shown]
            assert problems == []
        finally:
            browser.close()


def _pixels(path: Path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def _webhdfs(cfg) -> str:
    return f"http://127.0.0.1:{cfg.local.hdfs_http_port}/webhdfs/v1"


def _put(web: str, uri: str, data: bytes) -> None:
    path = "/" + uri.split("://", 1)[1].split("/", 1)[1]
    req = urllib.request.Request(f"{web}{path}?op=CREATE&overwrite=true&user.name=wattstream",
                                 method="PUT")
    try:
        urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as exc:  # 307 to a DataNode: urllib does not follow a PUT
        if exc.code != 307:
            raise AssertionError(f"WebHDFS CREATE {path}: {exc.code} {exc.read()[:500]!r}") from exc
        location = exc.headers["Location"]
    else:
        raise AssertionError("WebHDFS CREATE did not redirect to a DataNode")
    urllib.request.urlopen(urllib.request.Request(location, data=data, method="PUT"),
                           timeout=30)


def _get(web: str, uri: str) -> bytes:
    path = "/" + uri.split("://", 1)[1].split("/", 1)[1]
    with urllib.request.urlopen(f"{web}{path}?op=OPEN&user.name=wattstream", timeout=30) as r:
        return r.read()
