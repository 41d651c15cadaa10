// The world map: countries, landmarks and up to tens of thousands of hosts on one canvas.
//
// Everything geographic is projected once into Natural Earth units; drawing is
// then a transform (fit × zoom + pan) applied to cached Path2D objects, and
// hosts are batched per colour into a single path each, so 10,000 points cost
// a few milliseconds per frame. Picking is a linear scan in screen space.

import { project, WORLD_BOUNDS, geojsonPath } from "./topo.js";
import { HEALTH_COLORS, VERDICT_COLORS, displayVerdict, evidenceLandmarks } from "./dom.js";

const SEA = "#dfeaf3";
const LAND = "#f7f5ef";
const BORDER = "#a9a9a0";
const ALLOWED = "#b7d7f5";
// Worst drawn last, so it stays on top where hosts overlap.
const DRAW_ORDER = {
  verdict: ["unknown", "proven", "consistent", "suspicious", "violation"],
  health: ["unknown", "healthy", "initializing", "degraded", "unhealthy"],
};
const STANDOUT = new Set(["violation", "suspicious", "unhealthy", "degraded"]);

export class WorldMap {
  constructor(container, countries, { onSelect, onHover } = {}) {
    this.container = container;
    this.countries = countries;
    this.onSelect = onSelect || (() => {});
    this.onHover = onHover || (() => {});
    this.canvas = document.createElement("canvas");
    this.canvas.className = "worldmap";
    container.append(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.zoom = 1;
    this.pan = [0, 0];
    this.points = null;
    this.hidden = new Set();
    this.colorBy = "verdict";
    this.landmarks = [];
    this.selection = null;
    this.frame = 0;
    this.lastDraw = { ms: 0, points: 0 };
    this._bind();
    this.resize();
  }

  setPoints(cols) {
    const n = cols.count;
    const xy = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      const [x, y] = project(cols.lon[i], cols.lat[i]);
      xy[2 * i] = x;
      xy[2 * i + 1] = y;
    }
    this.points = { ...cols, xy };
    this.redraw();
  }

  setLandmarks(landmarks) {
    this.landmarks = landmarks.map((lm) => ({ ...lm, xy: project(lm.lon, lm.lat) }));
    this.redraw();
  }

  setHidden(categories) {
    this.hidden = new Set(categories);
    this.redraw();
  }

  // "verdict" or "health": which of the hosts' columns picks their colour.
  setColorBy(mode) {
    this.colorBy = mode;
    this.hidden = new Set();
    this.redraw();
  }

  // The category (verdict or health name) of located host i under the current colouring.
  category(i) {
    const p = this.points;
    return this.colorBy === "health" ? p.health_states[p.health[i]] : p.verdicts[p.verdict[i]];
  }

  // detail: a host detail answer; draws its feasible region, its zone's allowed area
  // (countries and region) and a line to every landmark its latest evidence names.
  select(detail) {
    if (!detail) {
      this.selection = null;
    } else {
      const zone = detail.zone_detail;
      const allowed = new Set((zone && zone.allowed_countries) || []);
      const hasSite = zone && zone.site_lat != null && zone.site_lon != null;
      const latest = detail.verdicts && detail.verdicts[0];
      this.selection = {
        id: detail.id,
        verdict: displayVerdict(detail.verdict, detail.suspicious),
        region: geojsonPath(detail.region),
        allowed: this.countries.filter((c) => c.a2 && allowed.has(c.a2)),
        allowedRegion: geojsonPath(zone && zone.allowed_region),
        estimate: detail.estimate ? project(detail.estimate.lon, detail.estimate.lat) : null,
        site: hasSite ? project(zone.site_lon, zone.site_lat) : null,
        evidence: evidenceLandmarks(latest && latest.evidence),
      };
    }
    this.redraw();
  }

  // Zoom by a factor around the map's centre (the +/− buttons); factor 0 resets the view.
  zoomBy(factor) {
    if (!factor) {
      this.zoom = 1;
      this.pan = [0, 0];
    } else {
      const zoom = Math.min(64, Math.max(1, this.zoom * factor));
      const k = zoom / this.zoom;
      this.pan = [this.pan[0] * k, this.pan[1] * k];
      this.zoom = zoom;
    }
    this.redraw();
  }

  focus(lon, lat, zoom) {
    const [x, y] = project(lon, lat);
    this.zoom = zoom;
    const s = this.scale * this.zoom;
    this.pan = [-x * s, y * s];
    this.redraw();
  }

  resize() {
    const rect = this.container.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.width = Math.max(200, rect.width);
    this.height = Math.max(150, rect.height);
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
    this.dpr = dpr;
    const b = WORLD_BOUNDS;
    this.scale = 0.98 * Math.min(this.width / (b.maxX - b.minX), this.height / (b.maxY - b.minY));
    this.redraw();
  }

  // Projected units -> CSS pixels.
  toScreen(x, y) {
    const s = this.scale * this.zoom;
    return [this.width / 2 + this.pan[0] + x * s, this.height / 2 + this.pan[1] - y * s];
  }

  redraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    const started = performance.now();
    const { ctx, dpr } = this;
    const s = this.scale * this.zoom;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, this.width, this.height);
    // Projected space: y up, origin at the map centre.
    ctx.setTransform(dpr * s, 0, 0, -dpr * s, dpr * (this.width / 2 + this.pan[0]), dpr * (this.height / 2 + this.pan[1]));
    this._drawGlobe(s);
    const sel = this.selection;
    if (sel) {
      ctx.fillStyle = ALLOWED;
      for (const c of sel.allowed) ctx.fill(c.path, "evenodd");
      if (sel.allowedRegion) ctx.fill(sel.allowedRegion, "evenodd");
    }
    ctx.lineWidth = 0.6 / s;
    ctx.strokeStyle = BORDER;
    for (const c of this.countries) ctx.stroke(c.path);
    if (sel && sel.region) {
      ctx.fillStyle = "rgba(215, 25, 28, 0.15)";
      ctx.fill(sel.region, "evenodd");
      ctx.lineWidth = 1.5 / s;
      ctx.strokeStyle = sel.verdict === "violation" ? "#b2182b" : "#2c7fb8";
      ctx.stroke(sel.region);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this._drawPoints();
    this._drawLandmarks();
    if (sel) this._drawSelection(sel);
    this.lastDraw = { ms: performance.now() - started, points: this.points ? this.points.count : 0 };
    this.canvas.dataset.drawn = String(this.lastDraw.points);
  }

  _drawGlobe(s) {
    const { ctx } = this;
    // The sphere's outline: the projection of the ±180° meridians.
    const outline = new Path2D();
    for (let lat = -90; lat <= 90; lat += 2) {
      const [x, y] = project(-180, lat);
      if (lat === -90) outline.moveTo(x, y);
      else outline.lineTo(x, y);
    }
    for (let lat = 90; lat >= -90; lat -= 2) {
      const [x, y] = project(180, lat);
      outline.lineTo(x, y);
    }
    outline.closePath();
    ctx.fillStyle = SEA;
    ctx.fill(outline);
    ctx.fillStyle = LAND;
    for (const c of this.countries) ctx.fill(c.path, "evenodd");
    ctx.lineWidth = 0.8 / s;
    ctx.strokeStyle = "#9fb6c8";
    ctx.stroke(outline);
  }

  _drawPoints() {
    const p = this.points;
    if (!p) return;
    const { ctx } = this;
    // A small fleet gets dots one can see and click; a large one small squares that do not merge.
    const base = p.count <= 200 ? 5 : p.count <= 2000 ? 3 : 2;
    const r = this.zoom > 4 ? base + 1 : base;
    const byHealth = this.colorBy === "health";
    const names = byHealth ? p.health_states : p.verdicts;
    const column = byHealth ? p.health : p.verdict;
    const colors = byHealth ? HEALTH_COLORS : VERDICT_COLORS;
    // toScreen, inlined: this loop runs once per host per frame.
    const s = this.scale * this.zoom;
    const ox = this.width / 2 + this.pan[0];
    const oy = this.height / 2 + this.pan[1];
    for (const name of DRAW_ORDER[this.colorBy]) {
      if (this.hidden.has(name)) continue;
      const code = names.indexOf(name);
      const big = STANDOUT.has(name) ? 1 : 0;
      ctx.fillStyle = colors[name];
      ctx.beginPath();
      for (let i = 0; i < p.count; i++) {
        if (column[i] !== code) continue;
        const x = ox + p.xy[2 * i] * s;
        const y = oy - p.xy[2 * i + 1] * s;
        if (x < -5 || y < -5 || x > this.width + 5 || y > this.height + 5) continue;
        ctx.rect(x - r - big, y - r - big, 2 * (r + big), 2 * (r + big));
      }
      ctx.fill();
      if (big) {
        ctx.strokeStyle = "#ffffff";
        ctx.lineWidth = 0.8;
        ctx.stroke();
      }
    }
  }

  _drawLandmarks() {
    const { ctx } = this;
    for (const lm of this.landmarks) {
      const [x, y] = this.toScreen(lm.xy[0], lm.xy[1]);
      ctx.beginPath();
      ctx.moveTo(x, y - 7);
      ctx.lineTo(x + 6, y + 4);
      ctx.lineTo(x - 6, y + 4);
      ctx.closePath();
      ctx.fillStyle = lm.quarantine_reason ? "#bbbbbb" : lm.trusted ? "#253494" : "#41b6c4";
      ctx.fill();
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1;
      ctx.stroke();
      if (lm.quarantine_reason) {
        ctx.strokeStyle = "#b2182b";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(x - 5, y - 5);
        ctx.lineTo(x + 5, y + 5);
        ctx.moveTo(x + 5, y - 5);
        ctx.lineTo(x - 5, y + 5);
        ctx.stroke();
      }
    }
  }

  _drawSelection(sel) {
    const { ctx } = this;
    if (sel.estimate) {
      const [ex, ey] = this.toScreen(sel.estimate[0], sel.estimate[1]);
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1.2;
      for (const lm of this.landmarks) {
        if (!sel.evidence.named.has(lm.id)) continue;
        const [lx, ly] = this.toScreen(lm.xy[0], lm.xy[1]);
        ctx.strokeStyle = sel.evidence.contradicting.has(lm.id) ? "rgba(178, 24, 43, 0.85)" : "rgba(37, 52, 148, 0.6)";
        ctx.beginPath();
        ctx.moveTo(ex, ey);
        ctx.lineTo(lx, ly);
        ctx.stroke();
      }
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.arc(ex, ey, 8, 0, 2 * Math.PI);
      ctx.strokeStyle = "#000000";
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    if (sel.site) {
      const [sx, sy] = this.toScreen(sel.site[0], sel.site[1]);
      ctx.fillStyle = "#253494";
      ctx.beginPath();
      ctx.arc(sx, sy, 4, 0, 2 * Math.PI);
      ctx.fill();
      ctx.strokeStyle = "#253494";
      ctx.beginPath();
      ctx.arc(sx, sy, 9, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  // The host (or landmark) nearest to a CSS-pixel position, within `radius` pixels.
  pick(px, py, radius = 7) {
    let best = null;
    let bestD = radius * radius;
    for (const lm of this.landmarks) {
      const [x, y] = this.toScreen(lm.xy[0], lm.xy[1]);
      const d = (x - px) ** 2 + (y - py) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = { kind: "landmark", landmark: lm };
      }
    }
    const p = this.points;
    if (best || !p) return best;
    for (let i = 0; i < p.count; i++) {
      if (this.hidden.has(this.category(i))) continue;
      const [x, y] = this.toScreen(p.xy[2 * i], p.xy[2 * i + 1]);
      const d = (x - px) ** 2 + (y - py) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = { kind: "host", index: i, id: p.ids[i], verdict: p.verdicts[p.verdict[i]], health: p.health_states[p.health[i]] };
      }
    }
    return best;
  }

  _bind() {
    const c = this.canvas;
    let drag = null;
    let moved = false;
    c.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const rect = c.getBoundingClientRect();
      const mx = ev.clientX - rect.left - this.width / 2;
      const my = ev.clientY - rect.top - this.height / 2;
      const factor = Math.exp(-ev.deltaY * 0.0015);
      const zoom = Math.min(64, Math.max(1, this.zoom * factor));
      const k = zoom / this.zoom;
      this.pan = [mx - (mx - this.pan[0]) * k, my - (my - this.pan[1]) * k];
      this.zoom = zoom;
      this.redraw();
    }, { passive: false });
    c.addEventListener("mousedown", (ev) => {
      drag = [ev.clientX, ev.clientY, this.pan[0], this.pan[1]];
      moved = false;
    });
    window.addEventListener("mouseup", () => (drag = null));
    c.addEventListener("mousemove", (ev) => {
      if (drag) {
        const dx = ev.clientX - drag[0];
        const dy = ev.clientY - drag[1];
        if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
        this.pan = [drag[2] + dx, drag[3] + dy];
        this.redraw();
        return;
      }
      const rect = c.getBoundingClientRect();
      const hit = this.pick(ev.clientX - rect.left, ev.clientY - rect.top);
      c.style.cursor = hit ? "pointer" : "grab";
      this.onHover(hit, ev);
    });
    c.addEventListener("mouseleave", () => this.onHover(null));
    c.addEventListener("click", (ev) => {
      if (moved) return;
      const rect = c.getBoundingClientRect();
      this.onSelect(this.pick(ev.clientX - rect.left, ev.clientY - rect.top));
    });
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.container);
  }

  destroy() {
    this.resizeObserver.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.canvas.remove();
  }
}
