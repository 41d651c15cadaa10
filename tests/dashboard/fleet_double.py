"""In-memory ``DashboardSource`` test double with a realistic, deterministic fleet.

It stands in for the server's store in the dashboard's tests and benchmark:
zones on four continents with their sites, a dozen landmarks (one
quarantined by the mesh vetting), hosts whose estimates sit near their zone's
site — except a few relocated ones found far away (``violation``) — GPUs from
several vendors, health findings worded the way the agent's checks word them,
and telemetry with day-shaped load. Filtering, paging and the summary are
computed from the data, so the router's tests can fail.
"""

from __future__ import annotations

import math
import random
from typing import Any

from fleetproof.server.dashboard.source import (
    AcceleratorInfo,
    Alert,
    Estimate,
    HealthComponent,
    HostDetail,
    HostItem,
    Landmark,
    MapPoint,
    Summary,
    TelemetrySeries,
    VerdictRecord,
    ZoneInfo,
)

ZONES: dict[str, tuple[list[str], float, float, str]] = {
    # id: (allowed countries, site lat, site lon, vendor mix)
    "eu-central": (["DE"], 50.11, 8.68, "nvidia"),
    "eu-west": (["IE", "GB"], 53.35, -6.26, "nvidia"),
    "us-east": (["US"], 39.04, -77.49, "nvidia"),
    "us-west": (["US"], 37.37, -121.92, "amd"),
    "sa-east": (["BR"], -23.55, -46.63, "nvidia"),
    "ap-southeast": (["SG"], 1.35, 103.82, "gaudi"),
    "ap-northeast": (["JP"], 35.68, 139.69, "nvidia"),
}
ZONE_COUNTRY = {"eu-central": "DE", "eu-west": "IE", "us-east": "US", "us-west": "US", "sa-east": "BR"}
ZONE_COUNTRY |= {"ap-southeast": "SG", "ap-northeast": "JP"}

LANDMARKS: list[tuple[str, float, float, str]] = [
    ("fra1", 50.11, 8.68, "DE"),
    ("ams1", 52.37, 4.90, "NL"),
    ("lon1", 51.51, -0.13, "GB"),
    ("iad1", 38.95, -77.45, "US"),
    ("sjc1", 37.36, -121.93, "US"),
    ("ord1", 41.98, -87.90, "US"),
    ("gru1", -23.43, -46.47, "BR"),
    ("jnb1", -26.20, 28.05, "ZA"),
    ("bom1", 19.08, 72.88, "IN"),
    ("sin1", 1.36, 103.99, "SG"),
    ("nrt1", 35.77, 140.39, "JP"),
    ("syd1", -33.87, 151.21, "AU"),
]
QUARANTINED = {
    "jnb1": "claimed position inconsistent with 7 of 11 mesh peers: replies faster than distance allows"
}

MODELS = {"nvidia": "NVIDIA H100 80GB HBM3", "amd": "AMD Instinct MI300X", "gaudi": "Intel Gaudi 2"}
MEMORY = {"nvidia": 85_520_809_984, "amd": 205_822_885_888, "gaudi": 103_079_215_104}
METRICS = [
    "temperature_c",
    "power_w",
    "utilization_percent",
    "memory_used_bytes",
    "ecc_volatile_uncorrected_total",
]
METRICS += ["memory_temperature_c", "clock_sm_mhz", "pcie_replay_total"]
# Where a relocated host is really answering from: (lat, lon, country).
ELSEWHERE = [(55.75, 37.62, "RU"), (31.23, 121.47, "CN"), (25.20, 55.27, "AE"), (-1.29, 36.82, "KE")]

FINDINGS: dict[str, tuple[str, str, str]] = {
    # component: (state, reason, suggested action)
    "xid": (
        "unhealthy",
        "Xid 79 on GPU {i}: the GPU has fallen off the bus",
        "Drain the host and reboot it; if Xid 79 recurs, reseat or replace GPU {i}",
    ),
    "ecc": (
        "degraded",
        "GPU {i}: 3 volatile uncorrectable ECC errors in the last hour; row remapping pending",
        "Reset GPU {i} at the next maintenance window to apply the remapped rows",
    ),
    "thermal": (
        "degraded",
        "GPU {i} at 91 °C, above its 88 °C slowdown threshold",
        "Check the chassis fans and airflow; clocks are being throttled",
    ),
}


def _circle(lat: float, lon: float, radius_km: float, n: int = 48) -> dict[str, Any]:
    """A GeoJSON polygon approximating a disc, like the engine's feasible region of one landmark."""
    d_lat = radius_km / 111.2
    d_lon = d_lat / max(0.05, math.cos(math.radians(lat)))
    ring = [
        [
            max(-180.0, min(180.0, lon + d_lon * math.cos(2 * math.pi * k / n))),
            max(-90.0, min(90.0, lat + d_lat * math.sin(2 * math.pi * k / n))),
        ]
        for k in range(n)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


class InMemoryDashboardSource:
    """A generated fleet of ``n_hosts`` hosts (8 accelerators each) as of Unix time ``now``."""

    def __init__(self, n_hosts: int = 200, *, now: float = 1_790_000_000.0, seed: int = 7) -> None:
        self.now = now
        self.rng = random.Random(seed)
        self.items: list[HostItem] = []
        self.vendor: dict[str, str] = {}
        self.faults: dict[str, list[tuple[str, int]]] = {}
        self.truth: dict[str, tuple[float, float, str]] = {}
        for i in range(n_hosts):
            self._add_host(i)
        self.index = {item["id"]: k for k, item in enumerate(self.items)}
        self.alert_list = self._make_alerts()

    def _add_host(self, i: int) -> None:
        rng = self.rng
        zone = list(ZONES)[i % len(ZONES)]
        _, site_lat, site_lon, vendor = ZONES[zone]
        host_id = f"{zone}-gpu-{i:05d}"
        roll = rng.random()
        verdict: str | None = "proven" if roll < 0.62 else "consistent" if roll < 0.90 else None
        verdict = "unknown" if roll >= 0.95 else verdict
        suspicious = 0.85 <= roll < 0.90
        verdict = "violation" if i % 97 == 5 else verdict
        if verdict == "violation":
            lat, lon, country = ELSEWHERE[i % len(ELSEWHERE)]
        else:
            lat, lon, country = site_lat, site_lon, ZONE_COUNTRY[zone]
        lat += rng.gauss(0, 0.8)
        lon += rng.gauss(0, 1.2)
        faults: list[tuple[str, int]] = []
        if rng.random() < 0.06:
            faults.append((rng.choice(list(FINDINGS)), rng.randrange(8)))
        states = [FINDINGS[c][0] for c, _ in faults]
        health = "unhealthy" if "unhealthy" in states else "degraded" if states else "healthy"
        if verdict is None and rng.random() < 0.3:
            health = "initializing"
        estimate: Estimate | None = None
        if verdict is not None:
            radius = {"proven": 180.0, "consistent": 900.0 if suspicious else 650.0, "unknown": 2500.0}
            estimate = {
                "lat": lat,
                "lon": lon,
                "radius_km": round(radius.get(verdict, 400.0) * (0.6 + rng.random()), 1),
                "country": country,
                "country_p": round(0.7 + 0.3 * rng.random(), 3),
            }
        last_seen = self.now - rng.uniform(2, 90)
        self.items.append(
            {
                "id": host_id,
                "zone": zone,
                "hostname": f"{host_id}.{zone}.example.net",
                "verdict": verdict,  # type: ignore[typeddict-item]
                "suspicious": suspicious,
                "estimate": estimate,
                "health": health,
                "last_seen": last_seen,
                "verdict_time": None if verdict is None else last_seen - 30.0,
                "relocated": verdict == "violation" and i % 2 == 0,
                "peer_inconsistent": suspicious,
                "accelerator_count": 8,
            }
        )
        self.vendor[host_id] = vendor if i % 5 else "nvidia"
        self.faults[host_id] = faults
        self.truth[host_id] = (lat, lon, country)

    def _make_alerts(self) -> list[Alert]:
        alerts: list[Alert] = []
        for k, item in enumerate(self.items):
            host = item["id"]
            if item["verdict"] == "violation":
                text = (
                    f"{host} cannot be where zone {item['zone']} allows (estimated in {self.truth[host][2]})"
                )
                alerts.append(self._alert(k, host, "location_violation", "critical", text))
            for component, device in self.faults[host]:
                state, reason, _ = FINDINGS[component]
                severity = "critical" if state == "unhealthy" else "warning"
                uuid = self._uuid(host, device)
                text = f"{host}: accelerator {uuid} {state} ({component}): " + reason.format(i=device)
                alerts.append(self._alert(k, host, f"accelerator_{state}", severity, text, f"{host}/{uuid}"))
        for lm, reason in QUARANTINED.items():
            alert = self._alert(0, None, "landmark_quarantined", "warning", f"landmark {lm}: {reason}", lm)
            alert["landmark_id"] = lm
            alerts.append(alert)
        alerts.sort(key=lambda a: a["opened_at"])
        for n, alert in enumerate(alerts):
            alert["id"] = n + 1
            if n % 4 == 3:
                alert["open"] = False
                alert["closed_at"] = alert["opened_at"] + 600.0
        alerts.reverse()  # newest first, as the store lists them
        return alerts

    def _alert(
        self, k: int, host_id: str | None, kind: str, severity: str, message: str, subject: str | None = None
    ) -> Alert:
        opened = self.now - 30.0 * (k % 500) - 5.0
        return {
            "id": 0,
            "kind": kind,
            "subject": subject or host_id or "",
            "device_id": host_id,
            "landmark_id": None,
            "severity": severity,
            "message": message,
            "details": {"zone": self.items[k]["zone"]} if host_id else {},
            "opened_at": opened,
            "last_seen_at": opened + 60.0,
            "closed_at": None,
            "open": True,
        }

    def _uuid(self, host_id: str, index: int) -> str:
        return f"{self.vendor[host_id][:3].upper()}-{host_id}-{index}"

    # -- DashboardSource -------------------------------------------------------------------------

    def summary(self) -> Summary:
        by_verdict: dict[str, int] = {}
        by_health: dict[str, int] = {}
        by_zone: dict[str, int] = {}
        acc_health: dict[str, int] = {}
        acc_vendor: dict[str, int] = {}

        def bump(counts: dict[str, int], key: str | None, n: int = 1) -> None:
            counts[key or "none"] = counts.get(key or "none", 0) + n

        for item in self.items:
            bump(by_verdict, item["verdict"])
            bump(by_health, item["health"])
            bump(by_zone, item["zone"])
            bump(acc_vendor, self.vendor[item["id"]], 8)
            if item["health"] == "initializing":
                bump(acc_health, "initializing", 8)
                continue
            bad = {device: FINDINGS[c][0] for c, device in self.faults[item["id"]]}
            for state in bad.values():
                bump(acc_health, state)
            bump(acc_health, "healthy", 8 - len(bad))
        return {
            "hosts": len(self.items),
            "hosts_by_verdict": by_verdict,
            "hosts_by_health": by_health,
            "hosts_by_zone": by_zone,
            "hosts_suspicious": sum(1 for item in self.items if item["suspicious"]),
            "accelerators": 8 * len(self.items),
            "accelerators_by_health": acc_health,
            "accelerators_by_vendor": acc_vendor,
            "open_alerts": sum(1 for a in self.alert_list if a["open"]),
        }

    def hosts(
        self,
        offset: int,
        limit: int,
        verdict: str | None = None,
        zone: str | None = None,
        health: str | None = None,
        q: str | None = None,
    ) -> tuple[int, list[HostItem]]:
        needle = (q or "").lower()
        rows = [
            item
            for item in self.items
            if (verdict is None or (item["verdict"] or "none") == verdict)
            and (zone is None or item["zone"] == zone)
            and (health is None or item["health"] == health)
            and (not needle or needle in item["id"].lower() or needle in (item["hostname"] or "").lower())
        ]
        return len(rows), rows[offset : offset + limit]

    def map_points(self) -> list[MapPoint]:
        return [
            {
                "id": item["id"],
                "lat": item["estimate"]["lat"] if item["estimate"] else None,
                "lon": item["estimate"]["lon"] if item["estimate"] else None,
                "verdict": item["verdict"],
                "suspicious": item["suspicious"],
                "health": item["health"],
            }
            for item in self.items
        ]

    def _accelerators(self, item: HostItem) -> list[AcceleratorInfo]:
        host = item["id"]
        vendor = self.vendor[host]
        bad = {device: FINDINGS[c][0] for c, device in self.faults[host]}
        if item["health"] == "initializing":
            bad = dict.fromkeys(range(8), "initializing")
        latest = {m: 0.0 for m in METRICS}
        return [
            {
                "uuid": self._uuid(host, i),
                "index": i,
                "vendor": vendor,
                "model": MODELS[vendor],
                "serial": f"{1650000000000 + 37 * i + len(host)}",
                "bus_id": f"00000000:{0x18 + 0x10 * i:02X}:00.0",
                "driver_version": {"nvidia": "550.90.07", "amd": "6.7.0", "gaudi": "1.17.0"}[vendor],
                "firmware_version": None,
                "memory_total_bytes": MEMORY[vendor],
                "health": bad.get(i, "healthy"),
                "metrics": {**latest, "temperature_c": 61.0 + (12.0 if i in bad else 0.0), "power_w": 512.0},
                "metrics_time": self.now - 10.0,
            }
            for i in range(8)
        ]

    def host(self, host_id: str) -> HostDetail | None:
        k = self.index.get(host_id)
        if k is None:
            return None
        item = self.items[k]
        zone_id = item["zone"] or ""
        allowed, site_lat, site_lon, _ = ZONES[zone_id]
        accelerators = self._accelerators(item)
        components: list[HealthComponent] = []
        for component, device in self.faults[host_id]:
            state, reason, action = FINDINGS[component]
            components.append(
                {
                    "component": component,
                    "accelerator_uuid": accelerators[device]["uuid"],
                    "state": state,
                    "reason": reason.format(i=device),
                    "suggested_action": action.format(i=device),
                    "time": self.now - 120.0,
                }
            )
        for component in ("power", "pcie", "nvlink" if self.vendor[host_id] == "nvidia" else "link"):
            components.append(
                {
                    "component": component,
                    "accelerator_uuid": None,
                    "state": "healthy",
                    "reason": f"all 8 accelerators pass the {component} check",
                    "suggested_action": None,
                    "time": self.now - 60.0,
                }
            )
        zone: ZoneInfo = {
            "id": zone_id,
            "description": f"{zone_id} data centre",
            "site_name": f"{zone_id}-dc1",
            "site_lat": site_lat,
            "site_lon": site_lon,
            "allowed_countries": allowed,
            "allowed_region": None,
            "created_at": self.now - 86400.0 * 30,
        }
        estimate = item["estimate"]
        inventory_accelerators = [
            {key: a[key] for key in ("index", "vendor", "model", "uuid", "serial", "bus_id")}
            for a in accelerators
        ]
        return {
            **item,
            "inventory": {
                "time": self.now - 3600.0,
                "host": {
                    "hostname": item["hostname"] or host_id,
                    "os": "Ubuntu 22.04.4 LTS",
                    "kernel": "5.15.0-113-generic",
                    "cpu_model": "Intel(R) Xeon(R) Platinum 8480+",
                    "cpu_count": 224,
                    "memory_total_bytes": 2_164_130_000_000,
                },
                "accelerators": inventory_accelerators,
            },
            "accelerators": accelerators,
            "host_metrics": {"load_1m": 3.2, "cpu_utilization_percent": 41.0},
            "health_components": components,
            "verdicts": self._verdicts(item, zone),
            "region": _circle(estimate["lat"], estimate["lon"], estimate["radius_km"]) if estimate else None,
            "zone_detail": zone,
            # Every third host enrolled without attestation, the rest with a software key.
            "key_attestation": None
            if sum(map(ord, host_id)) % 3 == 0
            else {"attestor": "software", "hardware_bound": False},
        }

    def _verdicts(self, item: HostItem, zone: ZoneInfo) -> list[VerdictRecord]:
        if item["verdict"] is None:
            return []
        lat, lon, _ = self.truth[item["id"]]
        records: list[VerdictRecord] = []
        for n in range(5):
            rows = []
            for lm, l_lat, l_lon, _ in LANDMARKS:
                rtt = round(2 * 1.5 * _distance_km(lat, lon, l_lat, l_lon) / 199.86 + 0.5 + 0.1 * n, 3)
                rows.append({"landmark": lm, "rtt_ms": rtt, "bound_km": round((rtt - 0.5) / 2 * 199.86, 1)})
            rows.sort(key=lambda r: r["bound_km"])
            contradicting = []
            if item["verdict"] == "violation":
                site = (zone["site_lat"] or 0.0, zone["site_lon"] or 0.0)
                for r in rows:
                    l_lat, l_lon = next((a, b) for i, a, b, _ in LANDMARKS if i == r["landmark"])
                    distance = _distance_km(site[0], site[1], l_lat, l_lon)
                    if distance > r["bound_km"]:
                        contradicting.append({**r, "distance_km": round(distance, 1)})
            records.append(
                {
                    "time": self.now - 600.0 * n,
                    "verdict": item["verdict"],
                    "suspicious": item["suspicious"],
                    "estimate": item["estimate"],
                    "evidence": {
                        "landmarks_used": len(rows),
                        "tolerance": 1,
                        "tightest": rows[:3],
                        "claim": {
                            "id": f"zone:{zone['id']}",
                            "kind": "countries",
                            "countries": zone["allowed_countries"],
                        },
                        "contradicting": contradicting,
                        "contradicting_count": len(contradicting),
                        "rtts_ms": {r["landmark"]: r["rtt_ms"] for r in rows},
                    },
                    "relocated": item["relocated"],
                    "peer_inconsistent": item["peer_inconsistent"],
                }
            )
        return records

    def telemetry(self, host_id: str, metric: str, since: float) -> list[TelemetrySeries]:
        k = self.index.get(host_id)
        if k is None or metric not in METRICS:
            return []
        bad = {device for _, device in self.faults[host_id]}
        start = max(since, self.now - 24 * 3600.0)
        times = [t for t in _frange(self.now - 24 * 3600.0, self.now, 60.0) if t >= start]
        series: list[TelemetrySeries] = []
        for i in range(8):
            rng = random.Random(f"{host_id}/{metric}/{i}")
            points = [[t, _metric_value(metric, t, i in bad, rng)] for t in times]
            if metric.endswith("_total"):
                total = 0.0
                for p in points:
                    total += p[1]
                    p[1] = total
            series.append({"uuid": self._uuid(host_id, i), "index": i, "points": points})
        return series

    def alerts(self, open_only: bool, offset: int, limit: int) -> tuple[int, list[Alert]]:
        rows = [a for a in self.alert_list if a["open"] or not open_only]
        return len(rows), rows[offset : offset + limit]

    def landmarks(self) -> list[Landmark]:
        out: list[Landmark] = []
        for n, (lm, lat, lon, country) in enumerate(LANDMARKS):
            reason = QUARANTINED.get(lm)
            out.append(
                {
                    "id": lm,
                    "lat": lat,
                    "lon": lon,
                    "country": country,
                    "trusted": n < 7 or (reason is None and n % 2 == 0),
                    "quarantine_reason": reason,
                    "mesh": {
                        "pairs": len(LANDMARKS) - 1 - (n % 3 == 2),
                        "median_rtt_ms": round(60.0 + 13.0 * n, 1),
                        "vetted_at": self.now - 40.0,
                        "conflicts": 7 if reason else 0,
                    },
                }
            )
        return out


def _metric_value(metric: str, t: float, faulty: bool, rng: random.Random) -> float:
    load = 0.55 + 0.4 * math.sin(2 * math.pi * (t % 86400.0) / 86400.0) + rng.gauss(0, 0.05)
    load = min(1.0, max(0.0, load))
    if metric == "temperature_c":
        return round(38 + 40 * load + (12 if faulty else 0) + rng.gauss(0, 0.7), 1)
    if metric == "power_w":
        return round(90 + 560 * load + rng.gauss(0, 8), 1)
    if metric == "memory_temperature_c":
        return round(44 + 40 * load + rng.gauss(0, 0.7), 1)
    if metric == "clock_sm_mhz":
        return float(1980 if load > 0.2 else 345)
    if metric == "utilization_percent":
        return round(100 * load, 1)
    if metric == "memory_used_bytes":
        return float(int(80e9 * min(1.0, load + 0.1)))
    return 1.0 if faulty and rng.random() < 0.02 else 0.0


def _frange(start: float, stop: float, step: float) -> list[float]:
    return [start + step * k for k in range(int((stop - start) // step) + 1)]


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
