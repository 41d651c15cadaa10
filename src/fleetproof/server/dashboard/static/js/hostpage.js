// One host: inventory, accelerators, health with reasons and actions, telemetry charts, verdict history.

import { getJSON } from "./api.js";
import { lineChart } from "./charts.js";
import { h, fill, badge, fmtAgo, fmtBytes, fmtEstimate, fmtTime, objectTable } from "./dom.js";

// Charts come in this order; any other metric the host reports follows.
const GROUPS = [/temp/, /power/, /util/, /mem/, /error|xid|ecc|retired|fault/];
const WINDOWS = { "1 h": 3600, "6 h": 21600, "24 h": 86400 };

export function orderMetrics(metrics) {
  const rank = (m) => {
    const i = GROUPS.findIndex((re) => re.test(m));
    return i < 0 ? GROUPS.length : i;
  };
  return [...metrics].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export async function hostPage(root, params, nav, hostId) {
  const d = await getJSON(`/hosts/${encodeURIComponent(hostId)}`);
  const windowS = Number(params.get("window") || 21600);
  const charts = h("div", { class: "charts", id: "charts" }, h("p", { class: "muted" }, "loading telemetry…"));
  root.append(
    h("section", { class: "host", "data-host": d.id },
      h("h2", {}, d.id, " ", badge("verdict", d.verdict), " ", badge("health", d.health)),
      h("p", { class: "muted" }, `${d.hostname || ""} · last seen ${fmtAgo(d.last_seen)} · `, h("a", { href: `#/map?host=${encodeURIComponent(d.id)}` }, "show on map")),
      h("div", { class: "panels" },
        h("div", { class: "panel" }, h("h3", {}, "Location"),
          h("dl", {},
            h("dt", {}, "zone"), h("dd", {}, d.zone ? d.zone.id : "none"),
            h("dt", {}, "allowed countries"), h("dd", {}, d.zone ? d.zone.allowed_countries.join(", ") || "none" : "—"),
            h("dt", {}, "site"), h("dd", {}, d.zone && d.zone.site ? `${d.zone.site.lat.toFixed(2)}, ${d.zone.site.lon.toFixed(2)}` : "—"),
            h("dt", {}, "estimate"), h("dd", {}, fmtEstimate(d.estimate)),
            h("dt", {}, "verdict"), h("dd", {}, d.verdict, d.suspicious ? " (suspicious measurements)" : ""))),
        h("div", { class: "panel" }, h("h3", {}, "Inventory"), inventory(d.inventory))),
      h("h3", {}, `Accelerators (${d.accelerators.length})`),
      h("table", { class: "grid", id: "accelerators" },
        h("thead", {}, h("tr", {}, ["#", "vendor", "model", "uuid", "memory", "driver", "health"].map((c) => h("th", {}, c)))),
        h("tbody", {}, d.accelerators.map((a) =>
          h("tr", {},
            h("td", {}, a.index), h("td", {}, a.vendor), h("td", {}, a.model), h("td", { class: "mono" }, a.uuid),
            h("td", {}, fmtBytes(a.memory_total_bytes)), h("td", {}, a.driver_version || "—"), h("td", {}, badge("health", a.health)))))),
      h("h3", {}, "Health"),
      healthTable(d),
      h("h3", {}, "Telemetry ",
        Object.entries(WINDOWS).map(([label, s]) =>
          h("button", { class: s === windowS ? "on" : "", onclick: () => nav.go(`#/host/${encodeURIComponent(d.id)}?window=${s}`) }, label))),
      charts,
      h("h3", {}, "Verdict history"),
      history(d.verdicts)));
  const since = Date.now() / 1000 - windowS;
  const metrics = orderMetrics(d.metrics || []);
  if (!metrics.length) {
    charts.replaceChildren(h("p", { class: "muted" }, "no telemetry stored for this host"));
    return;
  }
  const answers = await Promise.all(metrics.map((m) => getJSON(`/hosts/${encodeURIComponent(d.id)}/telemetry`, { metric: m, since })));
  fill(charts, ...answers.map((a) => lineChart(a.metric, a.series)));
}

function inventory(inv) {
  if (!inv) return h("p", { class: "muted" }, "no inventory reported");
  return h("dl", {},
    h("dt", {}, "os"), h("dd", {}, inv.os || "—"),
    h("dt", {}, "kernel"), h("dd", {}, inv.kernel || "—"),
    h("dt", {}, "cpu"), h("dd", {}, `${inv.cpu_model || "—"}${inv.cpu_count ? ` × ${inv.cpu_count}` : ""}`),
    h("dt", {}, "memory"), h("dd", {}, fmtBytes(inv.memory_total_bytes)),
    h("dt", {}, "reported"), h("dd", {}, fmtTime(inv.reported_at)));
}

function healthTable(d) {
  if (!d.health_components.length) return h("p", { class: "muted" }, "no health reports yet");
  const order = { unhealthy: 0, degraded: 1, initializing: 2, unknown: 3, healthy: 4 };
  const rows = [...d.health_components].sort((a, b) => order[a.state] - order[b.state]);
  const byUuid = Object.fromEntries(d.accelerators.map((a) => [a.uuid, a.index]));
  return h("table", { class: "grid", id: "health" },
    h("thead", {}, h("tr", {}, ["component", "device", "state", "reason", "suggested action", "time"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((c) =>
      h("tr", { class: `state-${c.state}` },
        h("td", {}, c.component),
        h("td", {}, c.device_uuid ? (byUuid[c.device_uuid] !== undefined ? `#${byUuid[c.device_uuid]}` : c.device_uuid) : "host"),
        h("td", {}, badge("health", c.state)),
        h("td", {}, c.reason),
        h("td", {}, c.suggested_action || "—"),
        h("td", {}, fmtAgo(c.time))))));
}

function history(verdicts) {
  if (!verdicts.length) return h("p", { class: "muted" }, "no verdicts yet");
  return h("div", { class: "history", id: "history" },
    verdicts.map((v, i) =>
      h("details", { open: i === 0 },
        h("summary", {}, fmtTime(v.time), " ", badge("verdict", v.verdict), " ", v.summary),
        h("p", { class: "muted" }, `estimate: ${fmtEstimate(v.estimate)}`),
        v.evidence.length ? objectTable(v.evidence, "grid compact") : h("p", { class: "muted" }, "no evidence recorded"))));
}
