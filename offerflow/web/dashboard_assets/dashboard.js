// OfferFlow dashboard: polls /api/<page> every two seconds and draws it with Plotly.
// Containers are made once per id and updated in place (Plotly.react), so polling
// neither flickers nor leaks charts. Every chart records how many points it drew in
// data-points, which the browser test reads.
"use strict";

const PAGE = document.body.dataset.page;
const CONTENT = document.getElementById("content");
const POLL_MS = 2000;
const PLOT_CONFIG = { displayModeBar: false, responsive: true };

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
function num(x, digits = 0) {
  return x === null || x === undefined ? "–" : Number(x).toLocaleString("en", { maximumFractionDigits: digits });
}
function pct(x, digits = 1) {
  return x === null || x === undefined || !isFinite(x) ? "–" : `${(100 * x).toFixed(digits)}%`;
}
function time(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : "–";
}
function slot(parent, id, tag = "div", cls = "") {
  let el = document.getElementById(id);
  if (!el) {
    el = document.createElement(tag);
    el.id = id;
    if (cls) el.className = cls;
    parent.appendChild(el);
  }
  return el;
}
function section(id, title) {
  const el = slot(CONTENT, id, "section");
  if (!el.firstChild) el.innerHTML = `<h2>${esc(title)}</h2>`;
  return el;
}
function html(parent, id, markup) {
  const el = slot(parent, id);
  if (el.innerHTML !== markup) el.innerHTML = markup;
  return el;
}
function kpis(parent, id, items) {
  const cards = items.map(([label, value]) => `<div class="kpi"><div class="v">${esc(value)}</div><div class="l">${esc(label)}</div></div>`);
  return html(parent, id, `<div class="kpis">${cards.join("")}</div>`);
}
function table(parent, id, headers, rows) {
  if (!rows.length) return html(parent, id, `<p class="empty">nothing yet</p>`);
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
  return html(parent, id, `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`);
}
function chart(parent, id, traces, layout, cls = "chart") {
  const el = slot(parent, id, "div", cls);
  const points = traces.reduce((n, t) => n + (t.y || t.x || []).length, 0);
  el.dataset.points = String(points);
  const base = { margin: { l: 50, r: 20, t: 36, b: 40 }, height: 300, legend: { orientation: "h" } };
  Plotly.react(el, traces, { ...base, ...layout }, PLOT_CONFIG);
  return el;
}
function dates(times) {
  return times.map((t) => new Date(t));
}

// -- campaigns ---------------------------------------------------------------------------
function campaigns(data) {
  if (!data.campaigns.length) return html(CONTENT, "none", `<p class="empty">No campaign statistics yet.</p>`);
  for (const c of data.campaigns) {
    const id = `c-${c.campaign}`;
    const sec = section(id, `Campaign ${c.campaign}`);
    const burn = Object.entries(c.budget.burn).map(([k, b]) => [`budget ${k}`, `${num(b.used)} / ${num(b.limit)} (${pct(b.share)})`]);
    kpis(sec, `${id}-kpis`, [
      ["decisions", num(c.decisions)], ["no offer", num(c.no_offers)], ["impressions", num(c.impressions)],
      ["opens", num(c.opens)], ["clicks", num(c.clicks)], ["CTR", pct(c.ctr, 2)],
      ["conversions", num(c.conversions)], ["revenue", num(c.revenue, 2)], ...burn,
    ]);
    table(sec, `${id}-channels`, ["channel", "decisions", "impressions", "opens", "clicks", "CTR", "conversions", "revenue"],
      Object.entries(c.channels).map(([ch, v]) => [esc(ch), num(v.decisions), num(v.impressions), num(v.opens), num(v.clicks), pct(v.ctr, 2), num(v.conversions), num(v.revenue, 2)]));
    const grid = slot(sec, `${id}-grid`, "div", "grid");
    for (const [segment, series] of Object.entries(c.allocation)) {
      const traces = Object.entries(series.offers).map(([offer, share]) => ({
        x: dates(series.times), y: share, name: offer, type: "scatter", mode: "lines+markers", marker: { size: 4 }, stackgroup: "one",
      }));
      // A drift detection is a dashed line at its event time, labelled with what changed.
      const drifts = c.drifts.filter((d) => d.segment === segment);
      const shapes = drifts.map((d) => ({
        type: "line", xref: "x", yref: "paper", x0: new Date(d.ts), x1: new Date(d.ts), y0: 0, y1: 1, line: { color: "#c0392b", width: 2, dash: "dash" },
      }));
      const annotations = drifts.map((d, i) => ({  // stepped down so close markers stay legible
        xref: "x", yref: "paper", x: new Date(d.ts), y: 0.98 - (i % 4) * 0.09, xanchor: "left", yanchor: "top", showarrow: false,
        font: { size: 10, color: "#c0392b" }, bgcolor: "rgba(255,255,255,0.8)", text: `drift ${d.offer_id || d.stream} (${d.response})`,
      }));
      const el = chart(grid, `${id}-alloc-${segment}`, traces, { title: { text: `Arm allocation · ${segment}`, font: { size: 13 } }, yaxis: { tickformat: ".0%", range: [0, 1] }, shapes, annotations });
      el.dataset.drifts = String(drifts.length);
    }
    const bySegment = {};
    for (const p of c.posteriors) (bySegment[p.segment] ||= []).push(p);
    const traces = Object.entries(bySegment).map(([segment, arms]) => ({
      x: arms.map((a) => a.offer), y: arms.map((a) => a.mean), name: segment, type: "scatter", mode: "markers",
      error_y: { type: "data", symmetric: false, array: arms.map((a) => a.high - a.mean), arrayminus: arms.map((a) => a.mean - a.low) },
    }));
    chart(grid, `${id}-posteriors`, traces, {
      title: { text: "Posterior mean reward per offer and policy key, 95% credible interval", font: { size: 13 } },
      yaxis: { rangemode: "tozero" }, height: 420, legend: { orientation: "v", x: 1.02, y: 1 }, margin: { l: 50, r: 10, t: 36, b: 60 },
    }, "chart wide");
  }
}

// -- experiments -------------------------------------------------------------------------
function experiments(data) {
  if (!data.experiments.length) return html(CONTENT, "none", `<p class="empty">No experiment results yet.</p>`);
  for (const e of data.experiments) {
    const d = e.definition;
    const id = `e-${d.id}`;
    const sec = section(id, `Experiment ${d.id}${d.name ? " · " + d.name : ""}`);
    html(sec, `${id}-srm`, e.srm_warning
      ? `<div class="warn">Sample ratio mismatch (p = ${e.sample_ratio.p_value.toExponential(2)}): assignment or exposure is broken; do not trust these results.</div>`
      : `<p>Sample ratio check: p = ${num(e.sample_ratio.p_value, 3)} (no mismatch). Control: <b>${esc(d.control)}</b>, primary metric: <b>${esc(d.primary)}</b>.</p>`);
    table(sec, `${id}-variants`, ["variant", "weight", "users", "exposures"],
      Object.entries(e.variants).map(([v, s]) => [esc(v), pct(s.weight, 0), num(s.users), num(s.exposures)]));
    table(sec, `${id}-results`, ["metric", "variant", "control mean", "mean", "lift [95% CI]", "p (fixed)", "p (always valid)", "P(better)", "verdict"],
      e.results.map((r) => [esc(r.metric), esc(r.variant), num(r.control_mean, 4), num(r.mean, 4),
        `${pct(r.fixed.lift)} [${pct((r.fixed.lift_ci || [])[0])}, ${pct((r.fixed.lift_ci || [])[1])}]`, num(r.fixed.p_value, 4), num(r.sequential.p_value, 4),
        r.bayes ? pct(r.bayes.prob_better) : "–", `<span class="verdict-${esc(r.verdict)}">${esc(r.verdict)}</span>`]));
    const grid = slot(sec, `${id}-grid`, "div", "grid");
    const finite = (x) => (x === null || !isFinite(x) ? null : x);
    const lifts = e.results.filter((r) => finite(r.fixed.lift) !== null);
    const byVariant = {};
    for (const r of lifts) (byVariant[r.variant] ||= []).push(r);
    chart(grid, `${id}-lift`, Object.entries(byVariant).map(([v, rs]) => ({
      x: rs.map((r) => r.metric), y: rs.map((r) => r.fixed.lift), name: v, type: "scatter", mode: "markers",
      error_y: { type: "data", symmetric: false, array: rs.map((r) => (finite((r.fixed.lift_ci || [])[1]) ?? r.fixed.lift) - r.fixed.lift), arrayminus: rs.map((r) => r.fixed.lift - (finite((r.fixed.lift_ci || [])[0]) ?? r.fixed.lift)) },
    })), { title: { text: "Relative lift vs control, 95% interval", font: { size: 13 } }, yaxis: { tickformat: ".0%" } });
    chart(grid, `${id}-pvalue`, [
      ...Object.entries(e.p_value_history).map(([v, h]) => ({ x: dates(h.times), y: h.p_value, name: v, type: "scatter", mode: "lines+markers" })),
      ...(Object.keys(e.p_value_history).length ? [{ x: dates(Object.values(e.p_value_history)[0].times), y: Object.values(e.p_value_history)[0].times.map(() => d.alpha), name: `alpha ${d.alpha}`, mode: "lines", line: { dash: "dot", color: "#b3261e" } }] : []),
    ], { title: { text: `Always-valid p-value over time · ${d.primary}`, font: { size: 13 } }, yaxis: { type: "log", range: [-4, 0.05] } });
  }
}

// -- attribution -------------------------------------------------------------------------
function attribution(data) {
  const sec = section("attribution", `Attribution of ${num(data.conversions)} conversions (${num(data.value, 2)} value)`);
  const grid = slot(sec, "attr-grid", "div", "grid");
  for (const [kind, label] of [["channels", "channel"], ["campaigns", "campaign"]]) {
    const models = Object.keys(data[kind]);
    const keys = [...new Set(models.flatMap((m) => Object.keys(data[kind][m])))].sort();
    chart(grid, `attr-${kind}`, models.map((m) => ({
      x: keys, y: keys.map((k) => (data[kind][m][k] || { conversions: 0 }).conversions), name: m, type: "bar",
    })), { barmode: "group", title: { text: `Conversions credited per ${label}, by model`, font: { size: 13 } } });
  }
  const effects = Object.entries(data.removal_effects).sort((a, b) => b[1] - a[1]);
  if (effects.length) {
    chart(grid, "attr-removal", [{ x: effects.map((e) => e[0]), y: effects.map((e) => e[1]), type: "bar", name: "removal effect" }],
      { title: { text: `Markov removal effects (P(conversion) = ${num(data.conversion_probability, 3)})`, font: { size: 13 } } });
  }
  html(sec, "attr-removal-note", effects.length ? "" : `<p class="empty">Markov removal effects: not solved yet (the chain is re-solved every OFFERFLOW_MARKOV_REFRESH paths).</p>`);
  const models = Object.keys(data.channels);
  const channels = [...new Set(models.flatMap((m) => Object.keys(data.channels[m])))].sort();
  table(sec, "attr-table", ["channel", ...models], channels.map((ch) => [esc(ch), ...models.map((m) => num((data.channels[m][ch] || { conversions: 0 }).conversions, 2))]));
}

// -- segments ----------------------------------------------------------------------------
function segments(data) {
  const sec = section("segments", "Segments");
  const grid = slot(sec, "seg-grid", "div", "grid");
  chart(grid, "seg-sizes", [{ x: data.segments.map((s) => s.segment), y: data.segments.map((s) => s.size), type: "bar", name: "users" }],
    { title: { text: "Users per segment now", font: { size: 13 } } });
  chart(grid, "seg-history", data.segments.map((s) => ({ x: dates(s.times), y: s.sizes, name: s.segment, type: "scatter", mode: "lines+markers" })),
    { title: { text: "Segment sizes over time", font: { size: 13 } } });
  html(sec, "seg-note", `<h3>Feature means per segment (a sample of ${num(data.profiles_sampled)} profiles)</h3>`);
  const features = data.summaries.length ? Object.keys(data.summaries[0].means) : [];
  table(sec, "seg-summaries", ["segment", "profiles", ...features],
    data.summaries.map((s) => [esc(s.segment), num(s.sampled), ...features.map((f) => num(s.means[f], 2))]));
}

// -- operations --------------------------------------------------------------------------
function operations(data) {
  const sec = section("ops", "Operations");
  const now = data.processes.reduce((acc, p) => [acc[0] + p.now.in_per_s, acc[1] + p.now.out_per_s], [0, 0]);
  const dead = Object.values(data.totals.dead_letters || {}).reduce((a, b) => a + b, 0);
  kpis(sec, "ops-kpis", [
    ["flow processes", num(data.workers)], ["events/s in", num(now[0], 1)], ["records/s out", num(now[1], 1)],
    ["events in", num(Object.values(data.totals.events_in || {}).reduce((a, b) => a + b, 0))], ["dead letters", num(dead)],
    ["Redis", data.redis.ok ? `ok, ${data.redis.ping_ms} ms` : "DOWN"], ["last snapshot", data.last_snapshot_ms ? time(data.last_snapshot_ms) : "recovery off"],
  ]);
  const grid = slot(sec, "ops-grid", "div", "grid");
  const traces = [];
  for (const p of data.processes) {
    traces.push({ x: dates(p.times), y: p.in_per_s, name: `in · process ${p.process}`, type: "scatter", mode: "lines" });
    traces.push({ x: dates(p.times), y: p.out_per_s, name: `out · process ${p.process}`, type: "scatter", mode: "lines" });
  }
  chart(grid, "ops-rates", traces, { title: { text: "Events/s in, records/s out", font: { size: 13 } } });
  const reasons = Object.entries(data.totals.dead_letters || {}).sort((a, b) => b[1] - a[1]);
  chart(grid, "ops-dead", [{ x: reasons.map((r) => r[0]), y: reasons.map((r) => r[1]), type: "bar", name: "dead letters" }],
    { title: { text: "Dead letters by reason (total)", font: { size: 13 } } });
  const deadRates = [];
  for (const p of data.processes)
    for (const [reason, ys] of Object.entries(p.dead_per_s)) deadRates.push({ x: dates(p.times), y: ys, name: `${reason} · ${p.process}`, type: "scatter", mode: "lines" });
  chart(grid, "ops-dead-rate", deadRates, { title: { text: "Dead letters/s by reason", font: { size: 13 } }, legend: { orientation: "v", x: 1.02, y: 1 } });
  const lag = data.lag.filter((l) => !l.error);
  chart(grid, "ops-lag", [
    { x: lag.map((l) => `${l.topic.split(".").pop()}/${l.partition}`), y: lag.map((l) => l.consumed), name: "consumed", type: "bar" },
    { x: lag.map((l) => `${l.topic.split(".").pop()}/${l.partition}`), y: lag.map((l) => l.lag), name: "lag", type: "bar" },
  ], { barmode: "stack", title: { text: "Consumer position and lag per partition", font: { size: 13 } } });
  table(sec, "ops-processes", ["host", "process", "pid", "started", "last report", "recovery", "last snapshot"],
    data.processes.map((p) => [esc(p.host), num(p.process), num(p.pid), time(p.started_ms), time(p.reported_ms), esc(p.recovery_dir || "off"), time(p.last_snapshot_ms)]));
  table(sec, "ops-redis", ["Redis", "value"], Object.entries(data.redis).map(([k, v]) => [esc(k), esc(v)]));
}

const RENDER = { campaigns, experiments, attribution, segments, operations };

async function refresh() {
  try {
    const response = await fetch(`/api/${PAGE}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    RENDER[PAGE](data);
    document.getElementById("updated").textContent = `updated ${time(data.generated_ms)}`;
    document.body.dataset.ready = "true";
  } catch (err) {
    document.getElementById("updated").textContent = `update failed: ${err.message}`;
  }
  setTimeout(refresh, POLL_MS);
}
refresh();
