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

// A lookup by a name that came from outside: only the table's own keys count, so that a zone or
// UUID called "constructor" or "__proto__" is not answered by Object.prototype.
export const own = (table, key) => (table && Object.hasOwn(table, key) ? table[key] : undefined);

export const VERDICT_COLORS = {
  proven: "#1a9850",
  consistent: "#66bd63",
  suspicious: "#f39c12",
  violation: "#d7191c",
  unknown: "#8c8c8c",
  none: "#c4c4c4",
};

// The map's colour class of a host: violation wins, then suspicious measurements, then the verdict.
export function displayVerdict(verdict, suspicious) {
  if (verdict === "violation") return "violation";
  if (suspicious) return "suspicious";
  return verdict === "proven" || verdict === "consistent" ? verdict : "unknown";
}

// Small flags beside a verdict: what else the pipeline noticed.
export function verdictFlags(x) {
  const flags = [];
  if (x.suspicious) flags.push(["suspicious", "measurements look manipulated"]);
  if (x.relocated) flags.push(["relocated", "RTTs moved away from the host's baseline"]);
  if (x.peer_inconsistent) flags.push(["peer-inconsistent", "RTTs disagree with hosts claimed at the same site"]);
  return flags.map(([label, title]) => h("span", { class: "flag", title }, ` ⚑ ${label}`));
}
export const HEALTH_COLORS = {
  healthy: "#1a9850",
  degraded: "#f39c12",
  unhealthy: "#d7191c",
  initializing: "#4a90d9",
  unknown: "#8c8c8c",
};

export const badge = (kind, value) => {
  const v = value || (kind === "verdict" ? "not judged" : "unknown");
  return h("span", { class: `badge ${kind}-${v.replace(/\s/g, "-")}` }, v);
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

const isScalar = (v) => v === null || typeof v !== "object";

// The engine's evidence object, whatever keys it has: numbers and strings as a list,
// lists of objects as tables, small maps inline, nested objects folded.
export function evidenceView(evidence) {
  if (!evidence || typeof evidence !== "object") return h("p", { class: "muted" }, "no evidence recorded");
  if (Array.isArray(evidence)) return evidence.length ? objectTable(evidence, "grid compact") : h("p", { class: "muted" }, "none");
  const facts = h("dl", { class: "facts" });
  const blocks = [];
  for (const [key, value] of Object.entries(evidence)) {
    if (isScalar(value)) {
      facts.append(h("dt", {}, key), h("dd", {}, fmtValue(value)));
    } else if (Array.isArray(value) && value.every(isScalar)) {
      facts.append(h("dt", {}, key), h("dd", {}, value.length ? value.map(fmtValue).join(", ") : "none"));
    } else if (Array.isArray(value)) {
      blocks.push(h("div", { class: "evidence-block", "data-key": key }, h("h5", {}, `${key} (${value.length})`), objectTable(value, "grid compact")));
    } else if (Object.values(value).every(isScalar)) {
      const text = Object.entries(value).map(([k, v]) => `${k} ${fmtValue(v)}`).join(" · ");
      facts.append(h("dt", {}, key), h("dd", {}, text || "—"));
    } else {
      blocks.push(h("details", { class: "evidence-block", "data-key": key }, h("summary", {}, key), evidenceView(value)));
    }
  }
  return h("div", { class: "evidence-view" }, facts, blocks);
}

// Landmark ids named anywhere in an evidence object, and those under "contradicting".
export function evidenceLandmarks(evidence) {
  const named = new Set();
  const contradicting = new Set();
  const walk = (value, inContra) => {
    if (!value || typeof value !== "object") return;
    if (Array.isArray(value)) return value.forEach((v) => walk(v, inContra));
    for (const [k, v] of Object.entries(value)) {
      if ((k === "landmark" || k === "landmark_id") && typeof v === "string") {
        named.add(v);
        if (inContra) contradicting.add(v);
      } else walk(v, inContra || k === "contradicting");
    }
  };
  walk(evidence, false);
  return { named, contradicting };
}

// A table from rows of flat objects, one column per key (union, in first-seen order).
export function objectTable(rows, cls) {
  const keys = [];
  for (const row of rows) for (const k of Object.keys(row)) if (!keys.includes(k)) keys.push(k);
  if (!rows.length) return h("p", { class: "muted" }, "none");
  return h(
    "table",
    { class: cls || "grid" },
    h("thead", {}, h("tr", {}, keys.map((k) => h("th", {}, k)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, keys.map((k) => h("td", {}, fmtValue(row[k]))))))
  );
}
