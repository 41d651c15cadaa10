// Fleet overview, hosts table, alerts and landmarks pages.

import { getJSON, download } from "./api.js";
import { bars } from "./charts.js";
import { h, badge, fmtAgo, fmtEstimate, fmtTime, verdictFlags, HEALTH_COLORS, VERDICT_COLORS } from "./dom.js";

const PAGE = 50;
const VERDICT_ORDER = ["proven", "consistent", "unknown", "violation", "none"];
const HEALTH_ORDER = ["healthy", "degraded", "unhealthy", "initializing", "unknown"];
const REPORTS_URL = "/api/v1/reports"; // the server's report API: compliance and inventory, CSV or JSON

// The overview re-reads its counts every 15 s while it is shown, swapping the whole panel at once.
export async function overviewPage(root, params, nav) {
  const status = h("span", { class: "muted", id: "report-status" });
  root.append(await overview(status, nav));
  const timer = setInterval(async () => {
    if (document.hidden || !root.isConnected) return;
    try {
      const fresh = await overview(status, nav);
      if (root.isConnected) root.replaceChildren(fresh);
    } catch (_) {
      /* keep the last view; the next navigation reports errors */
    }
  }, 15000);
  nav.onLeave(() => clearInterval(timer));
}

async function overview(status, nav) {
  const [summary, alerts] = await Promise.all([getJSON("/summary"), getJSON("/alerts", { open_only: true, limit: 8 })]);
  const report = (kind, format) => async () => {
    status.textContent = `downloading the ${kind} report (${format})…`;
    try {
      await download(`${REPORTS_URL}/${kind}?format=${format}`, `fleetproof-${kind}.${format}`);
      status.textContent = `${kind} report saved (${format})`;
    } catch (err) {
      status.textContent = `${kind} report failed: ${err.message}`;
    }
  };
  const toHosts = (key) => (value) => nav.go(`#/hosts?${key}=${encodeURIComponent(value)}`);
  return (
    h(
      "section",
      { class: "overview" },
      h(
        "div",
        { class: "cards" },
        card("hosts", summary.hosts),
        card("accelerators", summary.accelerators),
        card("violations", summary.hosts_by_verdict.violation || 0, "violation"),
        card("suspicious", summary.hosts_suspicious || 0, summary.hosts_suspicious ? "warn" : null),
        card("open alerts", summary.open_alerts, summary.open_alerts ? "alert" : null)
      ),
      h(
        "div",
        { class: "panels" },
        panel("Hosts by verdict", bars(summary.hosts_by_verdict, VERDICT_COLORS, toHosts("verdict"), VERDICT_ORDER)),
        panel("Hosts by health", bars(summary.hosts_by_health, HEALTH_COLORS, toHosts("health"), HEALTH_ORDER)),
        panel("Hosts by zone", bars(summary.hosts_by_zone, null, (z) => z !== "none" && toHosts("zone")(z))),
        panel("Accelerators by health", bars(summary.accelerators_by_health, HEALTH_COLORS, null, HEALTH_ORDER)),
        panel("Accelerators by vendor", bars(summary.accelerators_by_vendor, null)),
        panel(
          "Reports",
          h("p", {}, "Compliance: every host's zone, verdict and evidence, for auditors."),
          h("button", { onclick: report("compliance", "csv"), id: "report-csv" }, "Compliance CSV"),
          " ",
          h("button", { onclick: report("compliance", "json"), id: "report-json" }, "Compliance JSON"),
          h("p", {}, "Inventory: every host and accelerator."),
          h("button", { onclick: report("inventory", "csv"), id: "inventory-csv" }, "Inventory CSV"),
          " ",
          h("button", { onclick: report("inventory", "json"), id: "inventory-json" }, "Inventory JSON"),
          h("p", {}, status)
        )
      ),
      panel(`Open alerts (${summary.open_alerts})`, alertTable(alerts.items), h("a", { href: "#/alerts?open_only=1" }, "all alerts →"))
    )
  );
}

// The page number of a hand-edited or pasted link: anything that is not a whole number the API can
// page to (its offsets stop at 2^31 - 1) means the first page, instead of an error from the API.
function pageNumber(params) {
  const n = Math.floor(Number(params.get("page") || 0));
  return Number.isFinite(n) && n > 0 && n * PAGE <= 2 ** 31 - 1 ? n : 0;
}

const card = (label, value, cls) =>
  h("div", { class: `card ${cls || ""}`, "data-card": label }, h("div", { class: "card-value" }, value.toLocaleString("en")), h("div", { class: "card-label" }, label));
const panel = (title, ...body) => h("div", { class: "panel" }, h("h3", {}, title), ...body);

export async function hostsPage(root, params, nav) {
  const filters = { verdict: params.get("verdict") || "", health: params.get("health") || "", zone: params.get("zone") || "", q: params.get("q") || "" };
  const page = pageNumber(params);
  const summary = await getJSON("/summary");
  const data = await getJSON("/hosts", { ...filters, offset: page * PAGE, limit: PAGE });
  const apply = (changes) => {
    const next = new URLSearchParams({ ...filters, ...changes });
    for (const [k, v] of [...next.entries()]) if (!v || (k === "page" && v === "0")) next.delete(k);
    nav.go(`#/hosts?${next.toString()}`);
  };
  const select = (name, options) =>
    h("select", { name, onchange: (ev) => apply({ [name]: ev.target.value, page: 0 }) },
      h("option", { value: "" }, `any ${name}`),
      options.map((o) => h("option", { value: o, selected: filters[name] === o }, o || "(none)")));
  let timer = null;
  const search = h("input", {
    type: "search", placeholder: "host id or name", value: filters.q, name: "q",
    oninput: (ev) => {
      clearTimeout(timer);
      timer = setTimeout(() => apply({ q: ev.target.value, page: 0 }), 350);
    },
  });
  const pages = Math.max(1, Math.ceil(data.total / PAGE));
  root.append(
    h("section", { class: "hosts" },
      h("div", { class: "filters" },
        select("verdict", Object.keys(summary.hosts_by_verdict)),
        select("health", Object.keys(summary.hosts_by_health)),
        select("zone", Object.keys(summary.hosts_by_zone).filter((z) => z !== "none").sort()),
        search,
        h("span", { class: "muted", id: "hosts-total" }, `${data.total.toLocaleString("en")} hosts`)),
      h("table", { class: "grid", id: "hosts-table" },
        h("thead", {}, h("tr", {}, ["host", "zone", "verdict", "estimate", "health", "accelerators", "last seen"].map((c) => h("th", {}, c)))),
        h("tbody", {}, data.items.map((x) =>
          h("tr", {},
            h("td", {}, h("a", { href: `#/host/${encodeURIComponent(x.id)}` }, x.id), x.hostname && x.hostname !== x.id ? h("div", { class: "muted small" }, x.hostname) : null),
            h("td", {}, x.zone || "—"),
            h("td", {}, badge("verdict", x.verdict), verdictFlags(x)),
            h("td", {}, fmtEstimate(x.estimate)),
            h("td", {}, badge("health", x.health)),
            h("td", {}, x.accelerator_count ?? "—"),
            h("td", { title: fmtTime(x.last_seen) }, fmtAgo(x.last_seen)))))),
      pager(page, pages, (p) => apply({ page: p }))));
}

function pager(page, pages, go) {
  return h("div", { class: "pager" },
    h("button", { disabled: page <= 0, onclick: () => go(page - 1) }, "← previous"),
    h("span", {}, ` page ${page + 1} of ${pages} `),
    h("button", { disabled: page >= pages - 1, onclick: () => go(page + 1) }, "next →"));
}

function alertTable(items) {
  if (!items.length) return h("p", { class: "muted" }, "no alerts");
  return h("table", { class: "grid alerts-table" },
    h("thead", {}, h("tr", {}, ["opened", "severity", "kind", "subject", "message", "state"].map((c) => h("th", {}, c)))),
    h("tbody", {}, items.map((a) =>
      h("tr", { class: a.open ? "open" : "resolved" },
        h("td", {}, fmtTime(a.opened_at)),
        h("td", {}, badge("severity", a.severity)),
        h("td", {}, a.kind),
        h("td", {}, a.device_id
          ? h("a", { href: `#/host/${encodeURIComponent(a.device_id)}` }, a.device_id)
          : a.landmark_id ? h("a", { href: "#/landmarks" }, `landmark ${a.landmark_id}`) : a.subject || "fleet"),
        h("td", {}, a.message),
        h("td", {}, a.open ? `open, last seen ${fmtAgo(a.last_seen_at)}` : `closed ${fmtAgo(a.closed_at)}`)))));
}

export async function alertsPage(root, params, nav) {
  const openOnly = params.get("open_only") === "1";
  const page = pageNumber(params);
  const data = await getJSON("/alerts", { open_only: openOnly, offset: page * PAGE, limit: PAGE });
  const go = (open, p) => nav.go(`#/alerts?${open ? "open_only=1&" : ""}page=${p}`);
  root.append(h("section", { class: "alerts" },
    h("div", { class: "filters" },
      h("label", {}, h("input", { type: "checkbox", checked: openOnly, onchange: (ev) => go(ev.target.checked, 0) }), " open only"),
      h("span", { class: "muted" }, ` ${data.total.toLocaleString("en")} alerts`)),
    alertTable(data.items),
    pager(page, Math.max(1, Math.ceil(data.total / PAGE)), (p) => go(openOnly, p))));
}

export async function landmarksPage(root) {
  const { items } = await getJSON("/landmarks");
  const quarantined = items.filter((lm) => lm.quarantine_reason);
  const peers = Math.max(0, items.length - 1);
  const measured = items.reduce((n, lm) => n + ((lm.mesh && lm.mesh.pairs) || 0), 0);
  const possible = items.length * peers;
  root.append(h("section", { class: "landmarks" },
    h("div", { class: "cards" },
      card("landmarks", items.length),
      card("trusted", items.filter((lm) => lm.trusted).length),
      card("quarantined", quarantined.length, quarantined.length ? "alert" : null),
      h("div", { class: "card" }, h("div", { class: "card-value" }, possible ? `${Math.round((100 * measured) / possible)}%` : "—"), h("div", { class: "card-label" }, "mesh pairs measured"))),
    quarantined.length
      ? panel("Quarantined landmarks", h("ul", { class: "quarantine-list" }, quarantined.map((lm) => h("li", {}, h("b", {}, lm.id), `: ${lm.quarantine_reason}`))))
      : null,
    h("table", { class: "grid", id: "landmarks-table" },
      h("thead", {}, h("tr", {}, ["landmark", "country", "position", "trust", "status", "peers measured", "median rtt_ms", "conflicts", "vetted"].map((c) => h("th", {}, c)))),
      h("tbody", {}, items.map((lm) =>
        h("tr", { class: lm.quarantine_reason ? "quarantined" : "" },
          h("td", {}, lm.id),
          h("td", {}, lm.country || "—"),
          h("td", {}, `${lm.lat.toFixed(2)}, ${lm.lon.toFixed(2)}`),
          h("td", {}, lm.trusted ? "trusted" : "untrusted"),
          h("td", {}, lm.quarantine_reason ? h("span", { class: "quarantine" }, `quarantined: ${lm.quarantine_reason}`) : "active"),
          h("td", {}, lm.mesh && lm.mesh.pairs !== undefined ? `${lm.mesh.pairs} / ${peers}` : "not yet"),
          h("td", {}, (lm.mesh && lm.mesh.median_rtt_ms) ?? "—"),
          h("td", {}, (lm.mesh && lm.mesh.conflicts) ?? "—"),
          h("td", {}, lm.mesh && lm.mesh.vetted_at ? fmtAgo(lm.mesh.vetted_at) : "—")))))));
}
