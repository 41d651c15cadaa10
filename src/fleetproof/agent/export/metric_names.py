"""Every metric the agent exports, with its Prometheus name, type, scale and help.

Collectors report values in the units their keys name (``temperature_c``,
``clock_sm_mhz``, ``utilization_percent``); Prometheus users expect base units
(celsius, hertz, ratio), so the catalog gives the factor between the two.
``docs/agent.md`` lists every name here, and a test checks that it does and
that nothing is exported without an entry.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCELERATOR_METRICS",
    "AGENT_METRICS",
    "HOST_METRICS",
    "THROTTLE_DURATION",
    "THROTTLE_DURATION_KEYS",
    "MetricName",
    "all_metric_names",
]


@dataclass(frozen=True)
class MetricName:
    name: str
    type: str  # "gauge" | "counter"
    help: str
    scale: float = 1.0


def _g(name: str, help_: str, scale: float = 1.0) -> MetricName:
    return MetricName(name, "gauge", help_, scale)


def _c(name: str, help_: str, scale: float = 1.0) -> MetricName:
    return MetricName(name, "counter", help_, scale)


P = "fleetproof_accelerator_"

# Collector metric key -> exported metric. Labels: hostname, vendor, index, uuid, model.
ACCELERATOR_METRICS: dict[str, MetricName] = {
    "temperature_c": _g(P + "temperature_celsius", "Core (GPU, hotspot or AI core) temperature."),
    "memory_temperature_c": _g(P + "memory_temperature_celsius", "Memory (HBM/VRAM) temperature."),
    "power_w": _g(P + "power_watts", "Power draw."),
    "power_limit_w": _g(P + "power_limit_watts", "Enforced power limit."),
    "clock_sm_mhz": _g(P + "sm_clock_hertz", "Streaming-multiprocessor (graphics/compute) clock.", 1e6),
    "clock_memory_mhz": _g(P + "memory_clock_hertz", "Memory clock.", 1e6),
    "utilization_percent": _g(
        P + "utilization_ratio", "Share of time the compute engine was busy (0-1).", 0.01
    ),
    "memory_utilization_percent": _g(
        P + "memory_bandwidth_utilization_ratio",
        "Share of time memory was being read or written (0-1).",
        0.01,
    ),
    "memory_used_bytes": _g(P + "memory_used_bytes", "Device memory in use."),
    "memory_total_bytes": _g(P + "memory_total_bytes", "Device memory in total."),
    "ecc_volatile_corrected_total": _c(
        P + "ecc_volatile_corrected_errors_total", "Corrected ECC errors since the last driver load or reset."
    ),
    "ecc_volatile_uncorrected_total": _c(
        P + "ecc_volatile_uncorrected_errors_total",
        "Uncorrectable ECC errors since the last driver load or reset.",
    ),
    "ecc_aggregate_corrected_total": _c(
        P + "ecc_aggregate_corrected_errors_total", "Corrected ECC errors over the device's life."
    ),
    "ecc_aggregate_uncorrected_total": _c(
        P + "ecc_aggregate_uncorrected_errors_total", "Uncorrectable ECC errors over the device's life."
    ),
    "remapped_rows_correctable": _g(
        P + "remapped_rows_correctable", "Memory rows remapped for correctable errors."
    ),
    "remapped_rows_uncorrectable": _g(
        P + "remapped_rows_uncorrectable", "Memory rows remapped for uncorrectable errors."
    ),
    "remapped_rows_pending": _g(P + "row_remap_pending", "1 when a row remap waits for the next GPU reset."),
    "remapped_rows_failure": _g(P + "row_remap_failure", "1 when a row remap failed (no spare rows)."),
    "retired_pages_sbe": _g(
        P + "retired_pages_single_bit", "Memory pages retired for repeated single-bit errors."
    ),
    "retired_pages_dbe": _g(P + "retired_pages_double_bit", "Memory pages retired for double-bit errors."),
    "pcie_replay_total": _c(P + "pcie_replays_total", "PCIe link replays (retransmissions)."),
    "nvlink_links_active": _g(P + "nvlink_links_active", "NVLink links that are up."),
    "nvlink_crc_errors_total": _c(P + "nvlink_crc_errors_total", "NVLink flit CRC errors, all links."),
    "nvlink_replay_errors_total": _c(P + "nvlink_replay_errors_total", "NVLink replays, all links."),
    "nvlink_recovery_errors_total": _c(P + "nvlink_recovery_errors_total", "NVLink recoveries, all links."),
    "energy_mj_total": _c(
        P + "energy_joules_total", "Energy used since the driver was loaded (NVML total energy).", 1e-3
    ),
}

# Time the device spent with its clocks held down, by NVML performance policy (NVML's
# nvmlDeviceGetViolationStatus, nanoseconds): collector key -> the `policy` label.
THROTTLE_DURATION_KEYS: dict[str, str] = {
    "throttle_power_ns_total": "power",
    "throttle_thermal_ns_total": "thermal",
    "throttle_sync_boost_ns_total": "sync_boost",
    "throttle_board_limit_ns_total": "board_limit",
    "throttle_low_utilization_ns_total": "low_utilization",
    "throttle_reliability_ns_total": "reliability",
}
THROTTLE_DURATION = _c(
    P + "throttle_seconds_total", "Time the clocks were held down by the `policy` label's limit.", 1e-9
)

# Series the agent derives itself (not a collector metric key).
DERIVED_ACCELERATOR_METRICS: dict[str, MetricName] = {
    "info": _g(P + "info", "Always 1; labels carry serial, bus id, driver and firmware versions."),
    "up": _g(P + "up", "1 when the device answers, 0 when it is lost (fell off the bus)."),
    "throttled": _g(P + "throttled", "1 while the device is throttled for the `reason` label."),
    "persistence_mode": _g(P + "persistence_mode", "1 when persistence mode is on."),
    "xid": _c(P + "xid_events_total", "Xid events seen by this agent, by `code` and catalog `severity`."),
    "xid_errors": _c(
        P + "xid_errors_total", "Xid events seen by this agent, by catalog `severity` (0 from the start)."
    ),
    "xid_last": _g(P + "xid_last_code", "Code of the latest Xid this agent saw; 0 before the first."),
}

# System collector key (before any [path] suffix) -> exported metric. Label: hostname (+ mountpoint).
HOST_METRICS: dict[str, MetricName] = {
    "cpu_utilization_percent": _g(
        "fleetproof_host_cpu_utilization_ratio", "Host CPU busy share (0-1).", 0.01
    ),
    "memory_total_bytes": _g("fleetproof_host_memory_total_bytes", "Host memory in total."),
    "memory_available_bytes": _g("fleetproof_host_memory_available_bytes", "Host memory available."),
    "memory_used_percent": _g("fleetproof_host_memory_used_ratio", "Host memory in use (0-1).", 0.01),
    "load1": _g("fleetproof_host_load1", "One-minute load average."),
    "disk_used_percent": _g("fleetproof_host_disk_used_ratio", "Disk use of `mountpoint` (0-1).", 0.01),
    "disk_free_bytes": _g("fleetproof_host_disk_free_bytes", "Free disk space of `mountpoint`."),
}

A = "fleetproof_agent_"
AGENT_METRICS: dict[str, MetricName] = {
    "build_info": _g(A + "build_info", "Always 1; the `version` label names the agent version."),
    "health": _g(
        "fleetproof_health_status",
        "1 for the current `state` of `component` (for device `uuid` or `subject`), 0 for the others.",
    ),
    "rounds": _c(A + "rounds_total", "Collection rounds run."),
    "last_round": _g(A + "last_round_timestamp_seconds", "Unix time of the latest round."),
    "collector_duration": _g(
        A + "collector_duration_seconds", "How long `collector` took in the latest round."
    ),
    "collector_success": _g(
        A + "collector_success", "1 when `collector` read without error in the latest round."
    ),
    "pending_items": _g(A + "outbox_pending_items", "Items waiting in the outbox."),
    "pending_bytes": _g(A + "outbox_pending_bytes", "Payload bytes waiting in the outbox."),
    "dropped_total": _c(A + "outbox_dropped_total", "Items dropped because the outbox was full."),
    "delivered_total": _c(A + "outbox_delivered_total", "Items delivered to the server since start."),
    "consecutive_failures": _g(A + "outbox_consecutive_failures", "Failed deliveries in a row."),
}


def all_metric_names() -> set[str]:
    groups = (ACCELERATOR_METRICS, DERIVED_ACCELERATOR_METRICS, HOST_METRICS, AGENT_METRICS)
    return {m.name for group in groups for m in group.values()} | {THROTTLE_DURATION.name}
