// One host: inventory, accelerators, health with reasons and actions, telemetry charts, verdict history.

import { getJSON } from "./api.js";
import { lineChart } from "./charts.js";
import { loadCountries } from "./mappage.js";
import { WorldMap } from "./worldmap.js";
import { h, fill, badge, evidenceView, fmtAgo, fmtBytes, fmtEstimate, fmtTime, own, verdictFlags } from "./dom.js";

// The charts shown first: per topic, the first metric name (with unit) the host reports.
const TOPICS = [
  ["temperature", ["temperature_c", "memory_temperature_c"]],
  ["power", ["power_w"]],
  ["utilization", ["utilization_percent", "utilization_pct", "utilization_ratio"]],
  ["memory", ["memory_used_bytes", "memory_utilization_percent"]],
  ["errors", ["ecc_volatile_uncorrected_total", "ecc_aggregate_uncorrected_total", "xid_events_total", "nvlink_crc_errors_total", "pcie_replay_total"]],
];
const WINDOWS = { "1 h": 3600, "6 h": 21600, "24 h": 86400 };

// Every metric the host's accelerators report, split into the topic charts and the rest.
export function chooseMetrics(accelerators) {
  const available = new Set();
  for (const a of accelerators) for (const name of Object.keys(a.metrics || {})) available.add(name);
  const primary = [];
  for (const [, candidates] of TOPICS) {
    const found = candidates.find((m) => available.has(m));
    if (found) primary.push(found);
  }
  const rest = [...available].filter((m) => !primary.includes(m)).sort();
  return { primary, rest };
}

export async function hostPage(root, params, nav, hostId) {
  const d = await getJSON(`/hosts/${encodeURIComponent(hostId)}`);
  const zone = d.zone_detail;
  const accelerators = d.accelerators || [];
  const windowS = Number(params.get("window") || 21600);
  const charts = h("div", { class: "charts", id: "charts" }, h("p", { class: "muted" }, "loading telemetry…"));
  const miniMap = h("div", { class: "mini-map", id: "mini-map" });
  root.append(
    h("section", { class: "host", "data-host": d.id },
      h("h2", {}, d.id, " ", badge("verdict", d.verdict), " ", badge("health", d.health), verdictFlags(d)),
      h("p", { class: "muted" }, `${d.hostname || ""} · last seen ${fmtAgo(d.last_seen)} · `, h("a", { href: `#/map?host=${encodeURIComponent(d.id)}` }, "show on map")),
      h("div", { class: "panels" },
        h("div", { class: "panel" }, h("h3", {}, "Location"),
          h("dl", {},
            h("dt", {}, "zone"), h("dd", {}, zone ? `${zone.id}${zone.description ? ` — ${zone.description}` : ""}` : d.zone || "none"),
            h("dt", {}, "allowed countries"), h("dd", {}, zone ? zone.allowed_countries.join(", ") || "none" : "—"),
            zone && zone.allowed_region ? [h("dt", {}, "allowed region"), h("dd", {}, "drawn on the map")] : null,
            h("dt", {}, "site"), h("dd", {}, zone && zone.site_lat != null ? `${zone.site_name || ""} ${zone.site_lat.toFixed(2)}, ${zone.site_lon.toFixed(2)}` : "—"),
            h("dt", {}, "estimate"), h("dd", {}, fmtEstimate(d.estimate)),
            h("dt", {}, "verdict"), h("dd", {}, d.verdict || "not judged yet", d.verdict_time ? ` (${fmtAgo(d.verdict_time)})` : ""),
            h("dt", {}, "device key"), h("dd", { id: "key-attestation" }, fmtKey(d.key_attestation)),
            h("dt", {}, "evidence"), h("dd", { class: "mono" }, `fleetproof server evidence export --device ${d.id}`))),
        h("div", { class: "panel" }, h("h3", {}, "Inventory"), inventory(d.inventory)),
        h("div", { class: "panel map-panel" }, miniMap)),
      h("h3", {}, `Accelerators (${accelerators.length})`),
      h("table", { class: "grid", id: "accelerators" },
        h("thead", {}, h("tr", {}, ["#", "vendor", "model", "uuid", "memory", "driver", "health"].map((c) => h("th", {}, c)))),
        h("tbody", {}, accelerators.map((a) =>
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
  // The host's feasible region and its zone's allowed area, close up.
  const countries = await loadCountries();
  if (!root.isConnected) return;
  const map = new WorldMap(miniMap, countries);
  nav.onLeave(() => map.destroy());
  map.select(d);
  if (d.estimate) map.focus(d.estimate.lon, d.estimate.lat, 3);
  const since = Date.now() / 1000 - windowS;
  const { primary, rest } = chooseMetrics(accelerators);
  if (!primary.length && !rest.length) {
    fill(charts, h("p", { class: "muted" }, "no telemetry stored for this host"));
    return;
  }
  const chart = async (metric) => {
    const a = await getJSON(`/hosts/${encodeURIComponent(d.id)}/telemetry`, { metric, since });
    return lineChart(a.metric, a.series);
  };
  const extra = h("div", { class: "charts" });
  const more = rest.length
    ? h("details", { class: "more-metrics" },
        h("summary", {}, `${rest.length} more metrics`),
        h("p", {}, rest.map((m) => h("button", { class: "metric", onclick: async (ev) => { ev.target.disabled = true; extra.append(await chart(m)); } }, m), " ")),
        extra)
    : null;
  fill(charts, ...(await Promise.all(primary.map(chart))));
  if (more) charts.after(more);
}

// Whose word the device key rests on: the operator's (no attestation, or a software key) or an
// attestor's (hardware evidence, carried whole in the evidence bundle for its vendor's verifier).
function fmtKey(att) {
  if (!att) return "no attestation: a software key, on the operator's word";
  if (!att.hardware_bound) return `${att.attestor} attestation: a software key, not hardware-bound`;
  return `${att.attestor} attestation: hardware-bound, on the attestor's word`;
}

function inventory(report) {
  const inv = report && report.host;
  if (!inv) return h("p", { class: "muted" }, "no inventory reported");
  return h("dl", {},
    h("dt", {}, "os"), h("dd", {}, inv.os || "—"),
    h("dt", {}, "kernel"), h("dd", {}, inv.kernel || "—"),
    h("dt", {}, "cpu"), h("dd", {}, [inv.cpu_model, inv.cpu_count ? `${inv.cpu_count} CPUs` : null].filter(Boolean).join(", ") || "—"),
    h("dt", {}, "memory"), h("dd", {}, fmtBytes(inv.memory_total_bytes)),
    h("dt", {}, "reported"), h("dd", {}, fmtTime(report.time)));
}

function healthTable(d) {
  const components = d.health_components || [];
  if (!components.length) return h("p", { class: "muted" }, "no health reports yet");
  const order = { unhealthy: 0, degraded: 1, initializing: 2, unknown: 3, healthy: 4 };
  const rank = (s) => own(order, s) ?? 3;
  const rows = [...components].sort((a, b) => rank(a.state) - rank(b.state));
  const byUuid = new Map((d.accelerators || []).map((a) => [a.uuid, a.index]));
  return h("table", { class: "grid", id: "health" },
    h("thead", {}, h("tr", {}, ["component", "device", "state", "reason", "suggested action", "time"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((c) =>
      h("tr", { class: `state-${c.state}` },
        h("td", {}, c.component),
        h("td", {}, c.accelerator_uuid ? (byUuid.has(c.accelerator_uuid) ? `#${byUuid.get(c.accelerator_uuid)}` : c.accelerator_uuid) : "host"),
        h("td", {}, badge("health", c.state)),
        h("td", {}, c.reason),
        h("td", {}, c.suggested_action || "—"),
        h("td", {}, fmtAgo(c.time))))));
}

function history(verdicts) {
  if (!verdicts || !verdicts.length) return h("p", { class: "muted" }, "no verdicts yet");
  return h("div", { class: "history", id: "history" },
    verdicts.map((v, i) =>
      h("details", { open: i === 0 },
        h("summary", {}, fmtTime(v.time), " ", badge("verdict", v.verdict), verdictFlags(v), ` estimate ${fmtEstimate(v.estimate)}`),
        evidenceView(v.evidence))));
}
