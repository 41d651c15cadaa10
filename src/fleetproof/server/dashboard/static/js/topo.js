// TopoJSON decoding and the Natural Earth projection, written for this dashboard.
//
// TopoJSON stores shared borders once as "arcs" of quantized, delta-encoded
// positions; a polygon ring lists arc indexes, where ~i means arc i reversed.
// We decode every arc once, project it once, and build one Path2D per country
// in projected units, so redrawing at any zoom is a transform, not a recompute.

const RAD = Math.PI / 180;

// Natural Earth I projection (Šavrič, Jenny, Patterson, Petrovič, Hurni 2011):
// a pseudo-cylindrical compromise projection given as polynomials in latitude.
export function project(lon, lat) {
  const l = lon * RAD;
  const p = lat * RAD;
  const p2 = p * p;
  const p4 = p2 * p2;
  const x = l * (0.8707 - 0.131979 * p2 + p4 * (-0.013791 + p4 * (0.003971 * p2 - 0.001529 * p4)));
  const y = p * (1.007226 + p2 * (0.015085 + p4 * (-0.044475 + 0.028874 * p2 - 0.005916 * p4)));
  return [x, y];
}

// The projected world spans these bounds (x at lon ±180, y at lat ±90).
export const WORLD_BOUNDS = (() => {
  const [x] = project(180, 0);
  const [, y] = project(0, 90);
  return { minX: -x, maxX: x, minY: -y, maxY: y };
})();

// Decode every arc to a Float64Array of [lon0, lat0, lon1, lat1, ...] degrees.
function decodeArcs(topology) {
  const t = topology.transform;
  const sx = t ? t.scale[0] : 1;
  const sy = t ? t.scale[1] : 1;
  const tx = t ? t.translate[0] : 0;
  const ty = t ? t.translate[1] : 0;
  return topology.arcs.map((arc) => {
    const out = new Float64Array(arc.length * 2);
    let qx = 0;
    let qy = 0;
    for (let i = 0; i < arc.length; i++) {
      qx = t ? qx + arc[i][0] : arc[i][0];
      qy = t ? qy + arc[i][1] : arc[i][1];
      out[2 * i] = qx * sx + tx;
      out[2 * i + 1] = qy * sy + ty;
    }
    return out;
  });
}

// A ring's positions, [[lon, lat], ...], from its arc indexes (~i: arc i reversed).
function ringPositions(arcs, ring) {
  const out = [];
  for (const index of ring) {
    const reversed = index < 0;
    const arc = arcs[reversed ? ~index : index];
    const n = arc.length / 2;
    // Consecutive arcs share their joining point; skip the repeat.
    for (let k = out.length ? 1 : 0; k < n; k++) {
      const j = reversed ? n - 1 - k : k;
      out.push([arc[2 * j], arc[2 * j + 1]]);
    }
  }
  return out;
}

// Points along the ±180° meridian from lat a to lat b (the meridian is curved once projected).
function meridian(side, a, b) {
  const out = [];
  const steps = Math.max(1, Math.ceil(Math.abs(b - a) / 2));
  for (let k = 1; k <= steps; k++) out.push([side * 180, a + ((b - a) * k) / steps]);
  return out;
}

// Split a ring where it crosses the antimeridian (a jump of more than 180° in longitude)
// and close each piece along the ±180° meridian, or around a pole when a piece spans
// the whole globe (Antarctica); otherwise a ring would streak across the map.
export function cutRing(ring) {
  const pts = ring.length > 1 && ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1] ? ring.slice(0, -1) : ring;
  const n = pts.length;
  const crossings = [];
  for (let i = 0; i < n; i++) {
    const [plon, plat] = pts[i];
    const [qlon, qlat] = pts[(i + 1) % n];
    if (Math.abs(qlon - plon) <= 180) continue;
    const side = plon > 0 ? 1 : -1;
    const q = qlon + 360 * side;
    const t = q === plon ? 0 : (180 * side - plon) / (q - plon);
    crossings.push({ i, lat: plat + t * (qlat - plat), exit: side, enter: -side });
  }
  if (!crossings.length) return [pts];
  const pieces = [];
  crossings.forEach((start, c) => {
    const end = crossings[(c + 1) % crossings.length];
    const piece = [[start.enter * 180, start.lat]];
    let sumLat = 0;
    for (let j = (start.i + 1) % n, guard = 0; guard <= n; j = (j + 1) % n, guard++) {
      piece.push(pts[j]);
      sumLat += pts[j][1];
      if (j === end.i) break;
    }
    piece.push([end.exit * 180, end.lat]);
    if (start.enter === end.exit) {
      piece.push(...meridian(end.exit, end.lat, start.lat));
    } else {
      const pole = sumLat < 0 ? -90 : 90;
      piece.push(...meridian(end.exit, end.lat, pole), ...meridian(start.enter, pole, start.lat));
    }
    pieces.push(piece);
  });
  return pieces;
}

function addRing(path, ring) {
  for (const piece of cutRing(ring)) {
    piece.forEach(([lon, lat], i) => {
      const [x, y] = project(lon, lat);
      if (i === 0) path.moveTo(x, y);
      else path.lineTo(x, y);
    });
    path.closePath();
  }
}

// [{name, a2, path: Path2D}] for the "countries" object of a world-atlas topology.
export function decodeCountries(topology) {
  const arcs = decodeArcs(topology);
  const geometries = topology.objects.countries.geometries;
  return geometries.map((g) => {
    const path = new Path2D();
    const polygons = g.type === "Polygon" ? [g.arcs] : g.type === "MultiPolygon" ? g.arcs : [];
    for (const polygon of polygons) for (const ring of polygon) addRing(path, ringPositions(arcs, ring));
    const props = g.properties || {};
    return { name: props.name || "", a2: props.a2 || null, path };
  });
}

// A GeoJSON Polygon / MultiPolygon (or Feature of one) as a projected Path2D; null otherwise.
export function geojsonPath(geo) {
  if (!geo) return null;
  const g = geo.type === "Feature" ? geo.geometry : geo;
  if (!g) return null;
  const polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : null;
  if (!polygons) return null;
  const path = new Path2D();
  for (const polygon of polygons) for (const ring of polygon) if (ring.length > 2) addRing(path, ring);
  return path;
}
