// Building DOM without innerHTML: host names, reasons and evidence come from
// agents and landmarks, so every string goes in as text, never as markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "style") el.style.cssText = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

// Replace an element's children; arrays are flattened and null/false skipped, as in h().
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVGNS = "http://www.w3.org/2000/svg";
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [key, value] of Object.entries(attrs || {})) if (value !== undefined && value !== null) el.setAttribute(key, value);
  for (const child of children.flat()) if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
  return el;
}

export const VERDICT_COLORS = {
  proven: "#1a9850",
  consistent: "#66bd63",
  suspicious: "#f39c12",
  violation: "#d7191c",
  unknown: "#8c8c8c",
};
export const HEALTH_COLORS = {
  healthy: "#1a9850",
  degraded: "#f39c12",
  unhealthy: "#d7191c",
  initializing: "#4a90d9",
  unknown: "#8c8c8c",
};

export const badge = (kind, value) => {
  const v = value || "unknown";
  return h("span", { class: `badge ${kind}-${v}` }, v);
};

export function fmtTime(t) {
  if (t === null || t === undefined) return "—";
  const d = new Date(t * 1000);
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function fmtAgo(t) {
  if (t === null || t === undefined) return "never";
  const s = Math.max(0, Date.now() / 1000 - t);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function fmtValue(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 10 ? 2 : 1);
  if (v === null || v === undefined) return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function fmtEstimate(e) {
  if (!e) return "not located";
  const c = e.country ? ` · ${e.country}${e.country_p != null ? ` ${Math.round(e.country_p * 100)}%` : ""}` : "";
  return `${e.lat.toFixed(2)}, ${e.lon.toFixed(2)} ± ${Math.round(e.radius_km)} km${c}`;
}

// A table from rows of flat objects, one column per key (union, in first-seen order).
export function objectTable(rows, cls) {
  const keys = [];
  for (const row of rows) for (const k of Object.keys(row)) if (!keys.includes(k)) keys.push(k);
  return h(
    "table",
    { class: cls || "grid" },
    h("thead", {}, h("tr", {}, keys.map((k) => h("th", {}, k)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, keys.map((k) => h("td", {}, fmtValue(row[k]))))))
  );
}
