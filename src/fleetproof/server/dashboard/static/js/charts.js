// Small SVG line charts for telemetry: one line per accelerator over time.

import { h, s, fmtBytes, own } from "./dom.js";

const W = 560;
const H = 190;
const M = { left: 58, right: 12, top: 10, bottom: 26 };
export const SERIES_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

// The unit is the metric name's suffix: temperature_c -> °C, power_w -> W.
export function unitOf(metric) {
  const units = { _c: "°C", _w: "W", _pct: "%", _percent: "%", _bytes: "bytes", _mhz: "MHz", _total: "count", _ms: "ms", _ratio: "ratio" };
  for (const [suffix, unit] of Object.entries(units)) if (metric.endsWith(suffix)) return unit;
  return "";
}

function fmtAxis(v, unit) {
  if (unit === "bytes") return fmtBytes(v);
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function niceTicks(lo, hi, count) {
  const span = hi - lo || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= step0);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(v);
  return ticks;
}

// series: [{uuid, index, points: [[t, v], ...]}]
export function lineChart(metric, series) {
  const unit = unitOf(metric);
  const all = series.flatMap((sr) => sr.points);
  const box = h("figure", { class: "chart", "data-metric": metric });
  box.append(h("figcaption", {}, `${metric}${unit ? ` (${unit})` : ""}`));
  if (!all.length) {
    box.append(h("p", { class: "muted" }, "no samples in this window"));
    return box;
  }
  let t0 = Infinity, t1 = -Infinity, v0 = Infinity, v1 = -Infinity;
  for (const [t, v] of all) {
    if (t < t0) t0 = t;
    if (t > t1) t1 = t;
    if (v < v0) v0 = v;
    if (v > v1) v1 = v;
  }
  if (unit === "%" ) { v0 = 0; v1 = Math.max(100, v1); }
  if (v0 > 0 && v0 < v1 * 0.5) v0 = 0;
  if (v1 === v0) { v1 = v0 + 1; }
  if (t1 === t0) t1 = t0 + 1;
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const X = (t) => M.left + ((t - t0) / (t1 - t0)) * iw;
  const Y = (v) => M.top + ih - ((v - v0) / (v1 - v0)) * ih;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${metric} over time` });
  const grid = s("g", { class: "grid" });
  for (const v of niceTicks(v0, v1, 4)) {
    grid.append(s("line", { x1: M.left, x2: W - M.right, y1: Y(v), y2: Y(v) }));
    grid.append(s("text", { x: M.left - 6, y: Y(v) + 4, "text-anchor": "end" }, fmtAxis(v, unit)));
  }
  const spanH = (t1 - t0) / 3600;
  const stepS = [300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].find((st) => (t1 - t0) / st <= 7) || 86400;
  for (let t = Math.ceil(t0 / stepS) * stepS; t <= t1; t += stepS) {
    const d = new Date(t * 1000);
    const label = spanH > 36 ? d.toISOString().slice(5, 10) : d.toISOString().slice(11, 16);
    grid.append(s("line", { x1: X(t), x2: X(t), y1: M.top, y2: M.top + ih }));
    grid.append(s("text", { x: X(t), y: H - 8, "text-anchor": "middle" }, label));
  }
  svg.append(grid);
  series.forEach((sr, k) => {
    if (!sr.points.length) return;
    const d = sr.points.map(([t, v], i) => `${i ? "L" : "M"}${X(t).toFixed(1)},${Y(v).toFixed(1)}`).join("");
    svg.append(s("path", { d, class: "line", stroke: seriesColor(sr, k), "data-uuid": sr.uuid }, s("title", {}, seriesName(sr))));
  });
  box.append(svg);
  box.append(
    h("div", { class: "chart-legend" },
      series.map((sr, k) => h("span", {}, h("i", { style: `background:${seriesColor(sr, k)}` }), sr.index < 0 ? "host" : `#${sr.index}`))
    )
  );
  return box;
}

const LABELS = { none: "not judged" };
const seriesColor = (sr, k) => (sr.index < 0 ? "#444444" : SERIES_COLORS[sr.index % 8] || SERIES_COLORS[k % 8]);
const seriesName = (sr) => (sr.index < 0 ? "host" : `accelerator ${sr.index} (${sr.uuid})`);

// Horizontal bars for a {label: count} dict; labels in `order` first, in that order, then by count.
export function bars(counts, colors, onClick, order = []) {
  const rank = (label) => (order.includes(label) ? order.indexOf(label) : order.length);
  const entries = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a, n], [b, m]) => rank(a) - rank(b) || m - n || a.localeCompare(b));
  const max = Math.max(1, ...entries.map(([, n]) => n));
  return h(
    "div",
    { class: "bars" },
    entries.map(([label, n]) =>
      h(
        "div",
        { class: "bar-row" + (onClick ? " clickable" : ""), onclick: onClick ? () => onClick(label) : null, "data-label": label },
        h("span", { class: "bar-label" }, own(LABELS, label) || label || "(none)"),
        h("span", { class: "bar-track" }, h("span", { class: "bar-fill", style: `width:${(100 * n) / max}%;background:${own(colors, label) || "#4a90d9"}` })),
        h("span", { class: "bar-count" }, n.toLocaleString("en"))
      )
    )
  );
}
