"""The report as one self-contained HTML file: tables, and plots drawn by matplotlib and embedded
as PNG data, so it opens offline from a mail or a share.

Every figure on the page that comes from the data carries its unrounded value in a
`data-value` attribute (what a test, or a script, reads back).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import episodes  # noqa: E402
from ..alert_types import TABLE, TYPES  # noqa: E402
from .report import Report  # noqa: E402

SUMMARY_ROWS = 2000  # buildings listed in the portfolio table (all are in the totals)
PLOT_BUILDINGS = 25  # buildings in the portfolio's cost chart
DPI = 96
COLORS = {"energy": "#3b7dd8", "demand": "#e8871e", "fixed": "#9aa5b1"}
ALERT_COLORS = {t.name: t.colour for t in TABLE}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2733;
background:#f5f7fa}
header{background:#17324d;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85}
main{padding:18px 28px;max-width:1400px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:0 0 18px;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:18px;margin:0 0 10px} h3{font-size:15px;margin:14px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 130px;background:#eef3f8;border-radius:6px;padding:10px 14px}
.card b{display:block;font-size:20px} .card span{font-size:12px;color:#4a5a6a}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #e3e8ee;text-align:left;vertical-align:top}
th{background:#f0f3f7;cursor:pointer;position:sticky;top:0}
td.num,th.num{text-align:right;white-space:nowrap}
.scroll{max-height:520px;overflow:auto}
img{max-width:100%;height:auto} .plots{display:flex;flex-wrap:wrap;gap:12px}
.plots img{flex:1 1 420px;max-width:640px}
.note{font-size:12px;color:#5a6a7a} a{color:#1f5fa8}
nav a{margin-right:14px}
"""

# Click a header to sort its table (numbers by their data-value).
SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var down = th.dataset.order !== 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      var u = x.dataset.value, v = y.dataset.value;
      var cmp = (u !== undefined && v !== undefined) ? parseFloat(u) - parseFloat(v)
        : x.textContent.localeCompare(y.textContent);
      return down ? -cmp : cmp;
    });
    th.dataset.order = down ? 'desc' : 'asc';
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def _num(value, digits: int = 0, unit: str = "") -> str:
    """A table cell with its raw value in data-value."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return '<td class="num">–</td>'
    text = f"{value:,.{digits}f}{unit}"
    return f'<td class="num" data-value="{float(value)!r}">{text}</td>'


def _text(value) -> str:
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _table(headers: list[tuple[str, bool]], rows: list[str], cls: str = "sortable",
           ident: str = "") -> str:
    head = "".join(f'<th class="{"num" if num else ""}">{html.escape(h)}</th>'
                   for h, num in headers)
    idattr = f' id="{ident}"' if ident else ""
    return (f'<div class="scroll"><table class="{cls}"{idattr}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _card(value: float, label: str, digits: int = 0, ident: str = "") -> str:
    idattr = f' id="{ident}"' if ident else ""
    return (f'<div class="card"{idattr} data-value="{float(value)!r}"><b>{value:,.{digits}f}'
            f"</b><span>{html.escape(label)}</span></div>")


# --- plots ------------------------------------------------------------------------------------

def plot_costs(r: Report) -> str:
    top = r.summary.head(PLOT_BUILDINGS).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.5, max(2.5, 0.28 * len(top) + 1)))
    left = np.zeros(len(top))
    for col, name in (("energy_cost", "energy"), ("demand_charge", "demand"),
                      ("fixed_charge", "fixed")):
        ax.barh(top["building_id"], top[col], left=left, color=COLORS[name], label=name)
        left += top[col].to_numpy()
    ax.set_xlabel(f"cost in the period ({r.currency})")
    ax.set_title(f"The {len(top)} most expensive buildings")
    ax.legend(loc="lower right", frameon=False)
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)


def plot_alerts(r: Report) -> str | None:
    a = r.alerts
    if a.empty:
        return None
    day = pd.to_datetime(a["event_time"]).dt.floor("D")
    counts = pd.crosstab(day, a["type"]).reindex(
        pd.date_range(r.since.floor("D"), (r.until - pd.Timedelta(seconds=1)).floor("D")),
        fill_value=0)
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    bottom = np.zeros(len(counts))
    for t in [t for t in TYPES if t in counts]:
        ax.bar(counts.index, counts[t], bottom=bottom, color=ALERT_COLORS[t], label=t,
               width=0.8)
        bottom += counts[t].to_numpy()
    ax.set_ylabel("alerts per day")
    ax.set_title("Alerts by type")
    ax.legend(fontsize=7, frameon=False, ncol=3)
    fig.autofmt_xdate()
    return _png(fig)


def plot_savings(r: Report) -> str | None:
    t = r.findings.table
    t = t[(t["saving_cost"] > 0) & (t["provisional"] == "")]
    if t.empty:
        return None
    by = t.groupby("rule")["saving_cost"].sum().sort_values()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(by) + 1.2))
    ax.barh(by.index, by.to_numpy(), color="#2a9d8f")
    ax.set_xlabel(f"estimated saving a year ({r.currency})")
    ax.set_title("Savings by rule")
    return _png(fig)


def plot_heatmap(r: Report, i: int) -> str:
    u = r.usage
    local = pd.to_datetime(u.hours_s, unit="s", utc=True).tz_convert(r.zone(i))
    days = local.normalize()
    frame = pd.DataFrame({"day": days.tz_localize(None), "hour": local.hour,
                          "kw": u.kw()[i]}).pivot_table(index="hour", columns="day",
                                                        values="kw", aggfunc="mean")
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    im = ax.imshow(frame.to_numpy(), aspect="auto", origin="lower", cmap="viridis",
                   interpolation="nearest")
    ticks = np.arange(0, frame.shape[1], max(1, frame.shape[1] // 10))
    ax.set_xticks(ticks, [f"{frame.columns[k]:%a %d %b}" for k in ticks], rotation=45,
                  ha="right", fontsize=7)
    ax.set_yticks([0, 6, 12, 18, 23])
    ax.set_ylabel(f"hour ({r.zone(i)})")
    for k, d in enumerate(frame.columns):
        if d.dayofweek >= 5:
            ax.axvspan(k - 0.5, k + 0.5, ymin=0, ymax=0.03, color="#d1495b")
    fig.colorbar(im, ax=ax, label="kW")
    ax.set_title("Load by hour and day (weekend days marked red below)")
    return _png(fig)


def plot_temperature(r: Report, i: int) -> str | None:
    days = r.temperature_days[r.usage.buildings[i]]
    e, t = days["energy_kwh"].to_numpy(), days["temperature"].to_numpy()
    full = days["complete"].to_numpy()
    if full.sum() < 3:
        return None
    fit = r.findings.fits.set_index("building_id").loc[r.usage.buildings[i]]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    we = days["weekend"].to_numpy()
    ax.scatter(t[full & ~we], e[full & ~we], s=14, color="#3b7dd8", label="weekday")
    ax.scatter(t[full & we], e[full & we], s=14, color="#e8871e", label="weekend")
    grid = np.linspace(np.nanmin(t[full]), np.nanmax(t[full]), 100)
    line = fit["base_kwh_day"] + np.nan_to_num(fit["heat_slope"]) * np.maximum(
        0, np.nan_to_num(fit["heat_balance"], nan=-1e9) - grid) + np.nan_to_num(
        fit["cool_slope"]) * np.maximum(0, grid - np.nan_to_num(fit["cool_balance"], nan=1e9))
    if np.isfinite(fit["base_kwh_day"]):
        ax.plot(grid, line, color="#1d2733", label="fit, weekday")
        ax.plot(grid, line + np.nan_to_num(fit["weekend_kwh_day"]), color="#1d2733", ls="--",
                label="fit, weekend")
    ax.set_xlabel("daily mean outdoor temperature (°C)")
    ax.set_ylabel("kWh per day")
    ax.set_title("Daily energy against temperature (change-point fit)")
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def plot_peaks(r: Report, building: str) -> str | None:
    top = r.usage.top[r.usage.top["building_id"] == building]
    if top.empty:
        return None
    last = top[top["month"] == top["month"].max()].head(10)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = [f"{pd.Timestamp(int(s), unit='s'):%d %b %H:%M}" for s in last["iv"]]
    ax.bar(np.arange(len(last)), last["kw"], color="#e8871e")
    ax.set_xticks(np.arange(len(last)), labels)
    k = int(np.ceil(r.cfg.recommend.peak_shave_hours * 3600 / r.tariff.interval_s))
    month = top[top["month"] == top["month"].max()]
    if len(month) > k:  # the cap peak shaving proposes: the level the top hours exceed
        ax.axhline(month["kw"].iloc[k], color="#1d2733", ls="--", lw=1,
                   label=f"cap: exceeded {r.cfg.recommend.peak_shave_hours:g} h a month")
        ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.set_ylabel("kW (interval average)")
    ax.set_title(f"The month's highest {r.cfg.tariff.demand_interval_minutes}-minute "
                 "intervals (UTC)")
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    return _png(fig)


# --- sections ---------------------------------------------------------------------------------

def _header(r: Report, title: str) -> str:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<header><h1>{html.escape(title)}</h1><p>{r.since:%Y-%m-%d %H:%M} to "
            f"{r.until:%Y-%m-%d %H:%M} UTC · {len(r.summary):,} buildings · tariff in "
            f"{r.currency}, {html.escape(r.cfg.tariff.timezone)} · made {made}</p></header>")


def _portfolio(r: Report) -> str:
    t = r.totals()
    cur = r.currency
    cards = "".join([
        _card(t["energy_kwh"], "kWh in the period", ident="total-energy"),
        _card(t["total_cost"], f"{cur} in the period (energy, demand, fixed)",
              ident="total-cost"),
        _card(t["co2_kg"] / 1000, "t CO2e in the period", 1, ident="total-co2"),
        _card(t["saving_cost"], f"{cur} a year to save", ident="total-saving"),
        _card(t["saving_kwh"], "kWh a year to save", ident="total-saving-kwh"),
        _card(t["saving_co2_kg"] / 1000, "t CO2e a year to save", 1,
              ident="total-saving-co2")])
    rows = []
    for s in r.summary.head(SUMMARY_ROWS).itertuples():
        name = html.escape(s.building_id)
        link = (f'<a href="#building-{name}">{name}</a>' if s.building_id in r.pages
                else name)
        rows.append(f'<tr data-building="{name}"><td>{link}</td>{_text(s.type)}'
                    f"{_num(s.energy_kwh)}{_num(s.energy_cost)}{_num(s.demand_charge)}"
                    f"{_num(s.total_cost)}{_num(s.co2_kg)}{_num(s.peak_kw, 1)}"
                    f"{_num(s.load_factor, 2)}{_num(s.saving_cost)}{_num(s.alerts)}</tr>")
    more = (f'<p class="note">The {SUMMARY_ROWS:,} most expensive of {len(r.summary):,} '
            "buildings; the totals count them all.</p>" if len(r.summary) > SUMMARY_ROWS
            else "")
    table = _table([("building", False), ("type", False), ("kWh", True),
                    (f"energy {cur}", True), (f"demand {cur}", True), (f"total {cur}", True),
                    ("kg CO2e", True), ("peak kW", True), ("load factor", True),
                    (f"saving {cur}/yr", True), ("alerts", True)], rows, ident="buildings-table")
    return (f'<section id="portfolio"><h2>Portfolio</h2><div class="cards">{cards}</div>'
            f'<div class="plots">{_img(plot_costs(r), "cost by building")}</div>'
            f"<h3>Buildings by cost</h3>{table}{more}"
            '<p class="note">Demand and fixed charges are those of the billing months the '
            "period touches, prorated by the share of each month it covers; peak kW is the "
            f"highest {r.cfg.tariff.demand_interval_minutes}-minute average.</p></section>")


def _recommendation_rows(table: pd.DataFrame, cur: str, with_building: bool) -> list[str]:
    rows = []
    for k, x in enumerate(table.itertuples(), 1):
        b = html.escape(x.building_id)
        evidence = x.evidence + (f" (provisional: {x.provisional})" if x.provisional else "")
        rows.append(f'<tr data-building="{b}" data-rule="{x.rule}"><td class="num">{k}</td>'
                    + (f"<td>{b}</td>" if with_building else "")
                    + f"{_text(x.title)}"
                    f"{_text(evidence)}"
                    f"{_num(x.saving_kwh)}"
                    f"{_num(x.saving_cost)}{_num(x.saving_co2_kg)}</tr>")
    return rows


def _recommendations(r: Report) -> str:
    cur = r.currency
    t = r.findings.table
    t = t[t["category"] != "data"]
    firm, provisional = t[t["provisional"] == ""], t[t["provisional"] != ""]
    plot = plot_savings(r)
    headers = [("#", True), ("building", False), ("what", False), ("evidence", False),
               ("kWh/yr", True), (f"{cur}/yr", True), ("kg CO2e/yr", True)]
    rows = _recommendation_rows(firm.head(r.cfg.report.top), cur, with_building=True)
    body = (_table(headers, rows, ident="recommendations-table") if rows else
            "<p>No recommendation resting on complete billing months: every building is in "
            "line with its peers, or the period holds no whole month yet.</p>")
    if len(provisional):
        why = sorted(set(provisional["provisional"]))
        body += ("<h3>Provisional findings</h3><p>Not ranked and not in the savings totals: "
                 + html.escape("; ".join(why)) + ".</p>"
                 + _table(headers, _recommendation_rows(provisional.head(r.cfg.report.top),
                                                        cur, with_building=True),
                          ident="provisional-table"))
    return ('<section id="recommendations"><h2>What to fix first</h2>'
            + (f'<div class="plots">{_img(plot, "savings by rule")}</div>' if plot else "")
            + body + '<p class="note">Savings are estimates a year: energy savings annualised '
            "from the period's days (at least 28 of them, else provisional), demand savings "
            "from the peaks of its complete billing months (a partial month's highest interval "
            "is not its peak); peak shaving and load factor price the same demand charge, so a "
            "building shows the larger.</p>"
            "</section>")


def _alerts(r: Report) -> str:
    """Counts by type, then the buildings by episodes: a building past its threshold all
    afternoon is one episode of many windows, not many alerts."""
    plot = plot_alerts(r)
    counts = r.alerts.groupby("type").size()
    spells = r.episodes.groupby("type").size()
    cells = "".join(f"<tr>{_text(t)}{_num(int(counts.get(t, 0)))}{_num(int(spells.get(t, 0)))}"
                    "</tr>" for t in TYPES)
    totals = episodes.per_building(r.episodes)
    rows = [f'<tr data-building="{html.escape(x.building_id)}">{_text(x.building_id)}'
            f"{_num(x.episodes)}{_num(x.windows)}{_num(x.longest)}{_num(x.hours, 1)}</tr>"
            for x in totals.head(SUMMARY_ROWS).itertuples()]
    return ('<section id="alerts"><h2>Alerts</h2>'
            + (f'<div class="plots">{_img(plot, "alerts by type")}</div>' if plot else
               "<p>No alert in the period.</p>")
            + _table([("type", False), ("alerts", True), ("episodes", True)], [cells],
                     ident="alert-counts")
            + (_table([("building", False), ("episodes", True), ("alert windows", True),
                       ("longest (windows)", True), ("hours under alert", True)], rows,
                      ident="episode-buildings") if rows else "")
            + '<p class="note">An episode: one building\'s alerts of one type in back-to-back '
            "windows (one notification). Every window's alert is in the alerts Parquet and "
            "the JSON.</p></section>")


def _quality(r: Report) -> str:
    q = r.findings.quality.sort_values(["estimated_share", "building_id"],
                                       ascending=[False, True])
    q = q[(q["estimated_share"] > 0) | (q["stuck_alerts"] > 0) | (q["gap_alerts"] > 0)
          | (q["local_time_mismatches"] > 0)]
    rows = [f'<tr data-building="{html.escape(x.building_id)}">{_text(x.building_id)}'
            f"{_num(x.windows)}{_num(x.missing)}{_num(x.stuck_alerts)}"
            f"{_num(x.stuck_minutes)}{_num(x.gap_alerts)}"
            f"{_num(100 * x.estimated_share, 2, ' %')}{_num(x.local_time_mismatches)}</tr>"
            for x in q.head(SUMMARY_ROWS).itertuples()]
    body = (_table([("building", False), ("windows", True), ("missing", True),
                    ("stuck alerts", True), ("stuck min", True), ("gap alerts", True),
                    ("on estimates", True), ("local time off", True)], rows,
                   ident="quality-table")
            if rows else "<p>Every building reported every window.</p>")
    off = r.days_off
    days = ("".join(f"<li>{html.escape(x.date)} {html.escape(x.name)}"
                    f"{' (' + html.escape(x.holidays) + ')' if x.holidays else ''}: "
                    f"{x.buildings} building(s)</li>" for x in off.itertuples())
            if len(off) else "")
    days_html = ('<h3>Days off</h3><p class="note">Holidays and closure days '
                 "(calendar.holidays, calendar.closures) in the period: the baselines take "
                 f'them as their own day type.</p><ul id="days-off">{days}</ul>'
                 if days else "")
    return ('<section id="quality"><h2>Data quality</h2>' + body + days_html +
            '<p class="note">On estimates: the share of the period whose windows are missing '
            "or stuck; a bill would rest on estimates there. Late readings are counted by the "
            "job (wattstream_late_readings_dropped_total), not per building. Local time off: "
            "readings whose day_of_week and hour disagree with the building's zone "
            "(calendar.timezones).</p></section>")


def _building(r: Report, building: str) -> str:
    i = r.usage.index(building)
    s = r.summary.set_index("building_id").loc[building]
    cur = r.currency
    recs = r.findings.table[r.findings.table["building_id"] == building]
    alerts = r.alerts[r.alerts["building_id"] == building]
    spells = r.episodes[r.episodes["building_id"] == building].sort_values("start")
    bills = r.bills[r.bills["building_id"] == building]
    bill_rows = [f"<tr>{_text(f'{b.period_start:%Y-%m-%d}')}{_num(b.energy_kwh)}"
                 f"{_num(b.energy_cost)}{_num(b.peak_kw, 1)}{_num(b.billed_kw, 1)}"
                 f"{_num(b.demand_charge)}{_num(b.fixed_charge)}{_num(b.total)}"
                 f"{_num(100 * b.coverage, 0, ' %')}</tr>" for b in bills.itertuples()]
    alert_rows = [f"<tr>{_text(f'{e.start:%Y-%m-%d %H:%M}')}{_text(f'{e.end:%H:%M}')}"
                  f"{_text(e.type)}{_num(e.windows)}{_num(e.worst, 1)}</tr>"
                  for e in spells.tail(200).itertuples()]
    plots = [p for p in (plot_heatmap(r, i), plot_temperature(r, i), plot_peaks(r, building))
             if p]
    b = html.escape(building)
    meta = f" · {html.escape(str(s['type']))}" if s["type"] else ""
    if np.isfinite(s["floor_area_m2"]):
        meta += f" · {s['floor_area_m2']:,.0f} m²"
    return (f'<section id="building-{b}" class="building" data-building="{b}">'
            f"<h2>Building {b}{meta}</h2><div class=\"cards\">"
            + _card(s["energy_kwh"], "kWh in the period")
            + _card(s["total_cost"], f"{cur} in the period")
            + _card(s["co2_kg"] / 1000, "t CO2e", 1)
            + _card(s["peak_kw"], "peak kW", 1)
            + _card(s["saving_cost"], f"{cur} a year to save")
            + "</div><div class=\"plots\">"
            + "".join(_img(p, f"{building} plot") for p in plots) + "</div>"
            + "<h3>Recommendations</h3>"
            + (_table([("#", True), ("what", False), ("evidence", False), ("kWh/yr", True),
                       (f"{cur}/yr", True), ("kg CO2e/yr", True)],
                      _recommendation_rows(recs, cur, with_building=False))
               if len(recs) else "<p>None: in line with its peers.</p>")
            + "<h3>Bills</h3>"
            + _table([("billing month", False), ("kWh", True), (f"energy {cur}", True),
                      ("peak kW", True), ("billed kW", True), (f"demand {cur}", True),
                      (f"fixed {cur}", True), (f"total {cur}", True), ("in period", True)],
                     bill_rows)
            + f"<h3>Alerts ({len(alerts)} in {len(spells)} episodes)</h3>"
            + (_table([("from (UTC)", False), ("to", False), ("type", False),
                       ("windows", True), ("worst", True)], alert_rows)
               if alert_rows else "<p>No alert in the period.</p>")
            + "</section>")


def render(r: Report, title: str = "wattstream energy report") -> str:
    """The whole page: the portfolio, then the buildings in `r.pages`."""
    nav = ('<nav><a href="#portfolio">Portfolio</a><a href="#recommendations">What to fix'
           '</a><a href="#alerts">Alerts</a><a href="#quality">Data quality</a>'
           + (f'<a href="#building-{html.escape(r.pages[0])}">Buildings</a>' if r.pages
              else "") + "</nav>")
    body = [_portfolio(r), _recommendations(r), _alerts(r), _quality(r)]
    body += [_building(r, b) for b in r.pages]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><meta name=\"viewport\" "
            f"content=\"width=device-width, initial-scale=1\"><style>{CSS}</style></head>"
            f"<body>{_header(r, title)}<main>{nav}{''.join(body)}</main>"
            f"<script>{SCRIPT}</script></body></html>")


def render_building(r: Report, building: str) -> str:
    """One building's page alone (`report --building`)."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(building)}: wattstream energy report</title>"
            f"<style>{CSS}</style></head><body>{_header(r, f'Building {building}')}"
            f"<main>{_building(r, building)}</main><script>{SCRIPT}</script></body></html>")
