// The map page: every host's estimate coloured by verdict, landmarks, and the selected host's evidence.

import { getJSON } from "./api.js";
import { decodeCountries } from "./topo.js";
import { WorldMap } from "./worldmap.js";
import { h, fill, badge, evidenceView, fmtEstimate, fmtTime, verdictFlags, HEALTH_COLORS, VERDICT_COLORS } from "./dom.js";

let countriesPromise = null;
const REFRESH_MS = window.fleetproofRefreshMs || 10000; // tests shorten it

// The decoded world, fetched and projected once per page load.
export function loadCountries() {
  if (!countriesPromise) {
    countriesPromise = getJSON("/countries").then(decodeCountries);
    countriesPromise.catch(() => (countriesPromise = null));
  }
  return countriesPromise;
}

export async function mapPage(root, params, nav) {
  const mapBox = h("div", { class: "map-wrap", id: "map" });
  const legend = h("div", { class: "legend", id: "legend" }, "loading…");
  const panel = h("div", { class: "selection", id: "selection" }, h("p", { class: "muted" }, "Click a host or a landmark on the map."));
  const tip = h("div", { class: "tooltip", hidden: true });
  root.append(h("section", { class: "map-page" }, h("div", { class: "map-col" }, mapBox, tip), h("aside", { class: "side" }, legend, panel)));

  const [countries, points, landmarks] = await Promise.all([
    loadCountries(),
    getJSON("/map-points"),
    getJSON("/landmarks"),
  ]);
  if (!root.isConnected) return; // navigated away while loading
  const map = new WorldMap(mapBox, countries, {
    onSelect: (hit) => select(hit),
    onHover: (hit, ev) => {
      if (!hit) {
        tip.hidden = true;
        return;
      }
      tip.hidden = false;
      tip.textContent = hit.kind === "host" ? `${hit.id} · ${hit.verdict} · ${hit.health}` : `landmark ${hit.landmark.id}${hit.landmark.quarantine_reason ? " · quarantined" : ""}`;
      const rect = mapBox.getBoundingClientRect();
      tip.style.left = `${ev.clientX - rect.left + 12}px`;
      tip.style.top = `${ev.clientY - rect.top + 12}px`;
    },
  });
  nav.onLeave(() => map.destroy());
  mapBox.parentElement.append(
    h("div", { class: "zoom" },
      h("button", { title: "zoom in", onclick: () => map.zoomBy(2) }, "+"),
      h("button", { title: "zoom out", onclick: () => map.zoomBy(0.5) }, "−"),
      h("button", { title: "whole world", onclick: () => map.zoomBy(0) }, "⟲"))
  );
  map.setLandmarks(landmarks.items);
  map.setPoints(points);
  window.fleetproofMap = map; // for tests and the benchmark
  renderLegend(legend, points, landmarks.items, map);

  let selected = null;
  async function select(hit) {
    panel.replaceChildren();
    selected = null;
    if (!hit) {
      map.select(null);
      panel.append(h("p", { class: "muted" }, "Click a host or a landmark on the map."));
      return;
    }
    if (hit.kind === "landmark") {
      map.select(null);
      panel.append(landmarkPanel(hit.landmark));
      return;
    }
    panel.append(h("p", { class: "muted" }, `loading ${hit.id}…`));
    const detail = await getJSON(`/hosts/${encodeURIComponent(hit.id)}`);
    map.select(detail);
    fill(panel, hostPanel(detail));
    selected = detail;
  }

  const wanted = params.get("host");
  if (wanted) {
    const detail = await getJSON(`/hosts/${encodeURIComponent(wanted)}`);
    map.select(detail);
    if (detail.estimate) map.focus(detail.estimate.lon, detail.estimate.lat, 3);
    fill(panel, hostPanel(detail));
    selected = detail;
  }

  // Verdicts arrive while the page is open (a demo's first ones within seconds): poll in place,
  // keeping zoom, hidden verdicts and the selection; re-render the panel only when the host changed.
  async function refresh() {
    if (document.hidden || !root.isConnected) return;
    const [fresh, lms] = await Promise.all([getJSON("/map-points"), getJSON("/landmarks")]);
    if (!root.isConnected) return;
    map.setLandmarks(lms.items);
    map.setPoints(fresh);
    renderLegend(legend, fresh, lms.items, map);
    if (!selected) return;
    const detail = await getJSON(`/hosts/${encodeURIComponent(selected.id)}`);
    if (!selected || detail.id !== selected.id || !root.isConnected) return;
    if (detail.verdict_time !== selected.verdict_time || detail.health !== selected.health) {
      map.select(detail);
      fill(panel, hostPanel(detail));
    }
    selected = detail;
  }
  const timer = setInterval(() => refresh().catch(() => {}), REFRESH_MS);
  nav.onLeave(() => clearInterval(timer));
}

function renderLegend(legend, points, landmarks, map) {
  const byHealth = map.colorBy === "health";
  const names = byHealth ? points.health_states : points.verdicts;
  const column = byHealth ? points.health : points.verdict;
  const colors = byHealth ? HEALTH_COLORS : VERDICT_COLORS;
  const counts = Object.fromEntries(names.map((v) => [v, 0]));
  for (const code of column) counts[names[code]] += 1;
  const quarantined = landmarks.filter((lm) => lm.quarantine_reason).length;
  const mode = h("select", { id: "color-by", onchange: (ev) => {
    map.setColorBy(ev.target.value);
    renderLegend(legend, points, landmarks, map);
  } }, ["verdict", "health"].map((m) => h("option", { value: m, selected: m === map.colorBy }, `colour by ${m}`)));
  fill(legend,
    h("h3", {}, `${points.count.toLocaleString("en")} hosts located`),
    points.unlocated ? h("p", { class: "muted" }, `${points.unlocated.toLocaleString("en")} not located yet`) : null,
    h("p", {}, mode),
    names.map((v) =>
      h(
        "label",
        { class: "legend-row", [byHealth ? "data-health" : "data-verdict"]: v },
        h("input", {
          type: "checkbox",
          checked: !map.hidden.has(v),
          onchange: (ev) => {
            const hidden = new Set(map.hidden);
            if (ev.target.checked) hidden.delete(v);
            else hidden.add(v);
            map.setHidden(hidden);
          },
        }),
        h("i", { class: "swatch", style: `background:${colors[v]}` }),
        v,
        h("span", { class: "count" }, counts[v].toLocaleString("en"))
      )
    ),
    h("div", { class: "legend-row" }, h("i", { class: "tri" }), `landmarks: ${landmarks.length}`, quarantined ? ` (${quarantined} quarantined)` : "")
  );
}

function hostPanel(d) {
  const latest = (d.verdicts || [])[0];
  const zone = d.zone_detail;
  const allowed = zone ? [...zone.allowed_countries, ...(zone.allowed_region ? ["a drawn region"] : [])] : [];
  return h(
    "div",
    { class: "host-panel", "data-host": d.id },
    h("h3", {}, h("a", { href: `#/host/${encodeURIComponent(d.id)}` }, d.id)),
    h("p", {}, badge("verdict", d.verdict), " ", badge("health", d.health), verdictFlags(d)),
    h(
      "dl",
      {},
      h("dt", {}, "zone"),
      h("dd", {}, zone ? `${zone.id} — allowed: ${allowed.join(", ") || "none"}` : d.zone || "no zone"),
      h("dt", {}, "estimate"),
      h("dd", {}, fmtEstimate(d.estimate)),
      h("dt", {}, "feasible region"),
      h("dd", {}, d.region ? "outlined on the map" : "none yet")
    ),
    latest
      ? h(
          "div",
          { class: "evidence" },
          h("h4", {}, `Evidence · ${fmtTime(latest.time)}`),
          h("p", { class: "muted small" }, "Dashed lines lead to the landmarks the evidence names; red ones contradict the claim. Blue fill: where the zone allows the host to be."),
          evidenceView(latest.evidence)
        )
      : h("p", { class: "muted" }, "no verdict yet")
  );
}

export function meshText(mesh) {
  if (!mesh || mesh.pairs === undefined) return "not measured by the mesh yet";
  return `${mesh.pairs} peers measured, median ${mesh.median_rtt_ms ?? "—"} ms, ${mesh.conflicts ?? 0} conflicts`;
}

function landmarkPanel(lm) {
  return h(
    "div",
    { class: "landmark-panel" },
    h("h3", {}, `Landmark ${lm.id}`),
    lm.quarantine_reason ? h("p", { class: "quarantine" }, `Quarantined: ${lm.quarantine_reason}`) : null,
    h(
      "dl",
      {},
      h("dt", {}, "position"),
      h("dd", {}, `${lm.lat.toFixed(2)}, ${lm.lon.toFixed(2)} (${lm.country || "?"})`),
      h("dt", {}, "trusted"),
      h("dd", {}, lm.trusted ? "yes" : "no"),
      h("dt", {}, "mesh"),
      h("dd", {}, meshText(lm.mesh))
    )
  );
}
