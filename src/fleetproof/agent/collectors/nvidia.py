"""NVIDIA GPUs through NVML (the ``nvidia-ml-py`` package, imported as ``pynvml``).

Only NVML *read* calls are made (``nvmlDeviceGet*``, ``nvmlSystemGet*`` and the
event-set calls that wait for Xid events); nothing is set or reset. The NVML
module is injectable (``nvml=``) so tests drive this collector with a fake built
from recorded values, and a host without the driver only makes
:meth:`NvidiaCollector.available` return False.

Xid events come from NVML's event set (critical Xid errors) and, optionally,
from the kernel log (``NVRM: Xid (PCI:0000:18:00): 79, ...`` lines): ``/dev/kmsg``,
the systemd journal or a log file, as ``kernel_log_path`` says
(:mod:`fleetproof.agent.collectors.kernel_log`); each is only read, from where the
previous round stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from collections.abc import Callable
from typing import Any

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, LibraryCollector, Snapshot, XidEvent
from fleetproof.agent.collectors.kernel_log import KernelLogSource, open_kernel_log, parse_kernel_xid
from fleetproof.agent.setting import Option, Setting

__all__ = ["NvidiaCollector", "parse_kernel_xid"]


# NVML clocks-event (throttle) bits -> vendor-neutral reason names.
_REASON_BITS = {
    0x04: "sw_power_cap",
    0x08: "hw_slowdown",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
}


# Metric key -> NVML performance policy of nvmlDeviceGetViolationStatus.
_VIOLATION_POLICIES = {
    "throttle_power_ns_total": "NVML_PERF_POLICY_POWER",
    "throttle_thermal_ns_total": "NVML_PERF_POLICY_THERMAL",
    "throttle_sync_boost_ns_total": "NVML_PERF_POLICY_SYNC_BOOST",
    "throttle_board_limit_ns_total": "NVML_PERF_POLICY_BOARD_LIMIT",
    "throttle_low_utilization_ns_total": "NVML_PERF_POLICY_LOW_UTILIZATION",
    "throttle_reliability_ns_total": "NVML_PERF_POLICY_RELIABILITY",
}


class _Lost(Exception):
    """NVML said the GPU is lost (fell off the bus)."""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _import_pynvml() -> Any:
    import pynvml  # nvidia-ml-py: loads libnvidia-ml lazily, at nvmlInit

    return pynvml


KERNEL_LOG_PATH = Setting(
    "kernel_log_path",
    "auto",
    "Where to read NVIDIA Xid lines from the kernel log: `kmsg` (/dev/kmsg), `journal` (the "
    "systemd journal), a log file (e.g. /var/log/kern.log), `auto` (kmsg, else the journal), "
    "or empty (NVML only).",
)


class NvidiaCollector(LibraryCollector):
    """Reads every NVIDIA GPU that NVML can see."""

    name = "nvidia"
    start_call, stop_call = "nvmlInit", "nvmlShutdown"
    options = (Option(KERNEL_LOG_PATH, "kernel_log_path", lambda value: value or None),)

    def __init__(
        self,
        nvml: Any = None,
        clock: Callable[[], float] = time.time,
        kernel_log_path: str | None = None,
        kernel_log: KernelLogSource | None = None,
        **_: object,
    ) -> None:
        super().__init__(nvml, clock)
        self._events: Any = None
        self._handle_index: dict[Any, int] = {}
        self._known: dict[int, DeviceInfo] = {}
        self._kernel_log_spec = kernel_log_path
        self._kernel_log: KernelLogSource | None = kernel_log

    # -- lifecycle ---------------------------------------------------------
    def _import(self) -> Any:
        return _import_pynvml()

    def _stop(self, lib: Any) -> None:
        events, self._events = self._events, None
        if events is not None:
            lib.nvmlEventSetFree(events)
        super()._stop(lib)

    def _count(self, lib: Any) -> int:
        return int(lib.nvmlDeviceGetCount())

    def close(self) -> None:
        if self._kernel_log is not None:
            self._kernel_log.close()
            self._kernel_log = None
        super().close()
        self._events = None

    def _started(self) -> None:
        """Register every GPU for critical Xid events, once NVML is up."""
        nv = self._module
        try:
            self._events = nv.nvmlEventSetCreate()
            for i in range(int(nv.nvmlDeviceGetCount())):
                handle = nv.nvmlDeviceGetHandleByIndex(i)
                self._handle_index[_handle_key(handle)] = i
                # Events unsupported on this board: Xids then come from the kernel log only.
                with contextlib.suppress(nv.NVMLError):
                    nv.nvmlDeviceRegisterEvents(handle, nv.nvmlEventTypeXidCriticalError, self._events)
        except Exception:
            self._events = None

    # -- reading -----------------------------------------------------------
    def collect(self) -> Snapshot:
        nv = self._lib()
        now = self._clock()
        driver = _text(nv.nvmlSystemGetDriverVersion())
        xids = self._poll_events(now)
        for bus, code, msg in self._read_kernel_log():
            for idx, info in self._known.items():
                if info.bus_id and _bus_key(info.bus_id) == _bus_key(bus):
                    xids.setdefault(idx, []).append(XidEvent(code=code, time=now, message=msg))
        devices = []
        for i in range(int(nv.nvmlDeviceGetCount())):
            reading = self._read_device(i, driver)
            reading.xid_events.extend(xids.get(i, []))
            devices.append(reading)
        return Snapshot(collector=self.name, time=now, devices=devices)

    def _call(self, reading: DeviceReading, fn: str, *args: Any) -> Any:
        """Call one NVML getter; None when unsupported, raise _Lost when the GPU is gone.

        "Unsupported" covers three cases that are no fault of the GPU: the board lacks
        the feature (NVML_ERROR_NOT_SUPPORTED), the installed driver's libnvidia-ml lacks
        the symbol (nvidia-ml-py raises NVML_ERROR_FUNCTION_NOT_FOUND when it looks the
        function up), and the installed nvidia-ml-py lacks the wrapper (AttributeError).
        """
        nv = self._module
        try:
            return getattr(nv, fn)(*args)
        except nv.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code == nv.NVML_ERROR_GPU_IS_LOST:
                raise _Lost(str(exc)) from exc
            if code not in (nv.NVML_ERROR_NOT_SUPPORTED, nv.NVML_ERROR_FUNCTION_NOT_FOUND):
                reading.errors.append(f"{fn}: {exc}")
            return None
        except AttributeError:
            return None  # an older nvidia-ml-py without this call

    def _read_device(self, index: int, driver: str) -> DeviceReading:
        nv = self._module
        placeholder = self._known.get(index) or DeviceInfo(
            index, "nvidia", "unknown", f"nvidia-index-{index}"
        )
        reading = DeviceReading(info=placeholder)
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            reading.info = self._info(reading, handle, index, driver)
            self._known[index] = reading.info
            self._read_metrics(reading, handle)
        except _Lost as exc:
            reading.lost = True
            reading.errors.append(f"GPU is lost: {exc}")
        except nv.NVMLError as exc:
            if getattr(exc, "value", None) == nv.NVML_ERROR_GPU_IS_LOST:
                reading.lost = True
            reading.errors.append(f"nvmlDeviceGetHandleByIndex: {exc}")
        return reading

    def _info(self, reading: DeviceReading, h: Any, index: int, driver: str) -> DeviceInfo:
        mem = self._call(reading, "nvmlDeviceGetMemoryInfo", h)
        pci = self._call(reading, "nvmlDeviceGetPciInfo", h)
        serial = self._call(reading, "nvmlDeviceGetSerial", h)
        vbios = self._call(reading, "nvmlDeviceGetVbiosVersion", h)
        return DeviceInfo(
            index=index,
            vendor="nvidia",
            model=_text(self._call(reading, "nvmlDeviceGetName", h) or "unknown"),
            uuid=_text(self._call(reading, "nvmlDeviceGetUUID", h) or f"nvidia-index-{index}"),
            serial=_text(serial) if serial else None,
            bus_id=_text(pci.busId) if pci is not None else None,
            driver_version=driver,
            firmware_version=_text(vbios) if vbios else None,
            memory_total_bytes=int(mem.total) if mem is not None else None,
        )

    def _read_metrics(self, reading: DeviceReading, h: Any) -> None:
        nv, m = self._module, reading.metrics
        call = self._call
        # nvmlDeviceGetTemperatureV replaces the deprecated nvmlDeviceGetTemperature (both °C);
        # drivers older than the V call answer FUNCTION_NOT_FOUND and the old call is used.
        before = len(reading.errors)
        temp = call(reading, "nvmlDeviceGetTemperatureV", h, nv.NVML_TEMPERATURE_GPU)
        if temp is None:
            temp = call(reading, "nvmlDeviceGetTemperature", h, nv.NVML_TEMPERATURE_GPU)
            if temp is not None:
                del reading.errors[before:]  # the older call answered: the newer one's failure is no fault
        put(m, "temperature_c", temp)
        put(m, "power_w", call(reading, "nvmlDeviceGetPowerUsage", h), 1e-3)
        put(m, "power_limit_w", call(reading, "nvmlDeviceGetEnforcedPowerLimit", h), 1e-3)
        for key, clock in (("clock_sm_mhz", nv.NVML_CLOCK_SM), ("clock_memory_mhz", nv.NVML_CLOCK_MEM)):
            put(m, key, call(reading, "nvmlDeviceGetClockInfo", h, clock))
        util = call(reading, "nvmlDeviceGetUtilizationRates", h)
        if util is not None:
            m["utilization_percent"] = float(util.gpu)
            m["memory_utilization_percent"] = float(util.memory)
        mem = call(reading, "nvmlDeviceGetMemoryInfo", h)
        if mem is not None:
            m["memory_used_bytes"] = float(mem.used)
            m["memory_total_bytes"] = float(mem.total)
        for kind, err in (
            ("corrected", nv.NVML_MEMORY_ERROR_TYPE_CORRECTED),
            ("uncorrected", nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
        ):
            for scope, counter in (("volatile", nv.NVML_VOLATILE_ECC), ("aggregate", nv.NVML_AGGREGATE_ECC)):
                put(
                    m,
                    f"ecc_{scope}_{kind}_total",
                    call(reading, "nvmlDeviceGetTotalEccErrors", h, err, counter),
                )
        rows = call(reading, "nvmlDeviceGetRemappedRows", h)
        if rows is not None:
            for key, value in zip(("correctable", "uncorrectable", "pending", "failure"), rows, strict=True):
                m[f"remapped_rows_{key}"] = float(value)
        else:  # before Ampere: page retirement instead of row remapping
            for key, cause in (
                ("sbe", nv.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS),
                ("dbe", nv.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR),
            ):
                pages = call(reading, "nvmlDeviceGetRetiredPages", h, cause)
                if pages is not None:
                    m[f"retired_pages_{key}"] = float(len(pages))
        put(m, "pcie_replay_total", call(reading, "nvmlDeviceGetPcieReplayCounter", h))
        self._read_nvlink(reading, h)
        # Total energy since the driver was loaded (mJ, Volta and later), and how long each
        # performance policy held the clocks down (ns), as dcgm-exporter's *_VIOLATION fields.
        put(m, "energy_mj_total", call(reading, "nvmlDeviceGetTotalEnergyConsumption", h))
        for key, policy in _VIOLATION_POLICIES.items():
            limited = call(reading, "nvmlDeviceGetViolationStatus", h, getattr(nv, policy))
            if limited is not None:
                m[key] = float(limited.violationTime)
        reasons = call(reading, "nvmlDeviceGetCurrentClocksEventReasons", h)
        if reasons is None:
            reasons = call(reading, "nvmlDeviceGetCurrentClocksThrottleReasons", h)
        if reasons is not None:
            reading.throttle_reasons = frozenset(n for bit, n in _REASON_BITS.items() if int(reasons) & bit)
        mode = call(reading, "nvmlDeviceGetPersistenceMode", h)
        reading.persistence_mode = None if mode is None else bool(mode)

    def _read_nvlink(self, reading: DeviceReading, h: Any) -> None:
        """Sum error counters over the active links; a counter a board does not keep is left out."""
        nv = self._module
        counters = {
            "nvlink_crc_errors_total": nv.NVML_NVLINK_ERROR_DL_CRC_FLIT,
            "nvlink_replay_errors_total": nv.NVML_NVLINK_ERROR_DL_REPLAY,
            "nvlink_recovery_errors_total": nv.NVML_NVLINK_ERROR_DL_RECOVERY,
        }
        sums: dict[str, float] = {}
        links = 0
        for link in range(int(getattr(nv, "NVML_NVLINK_MAX_LINKS", 18))):
            try:
                if not nv.nvmlDeviceGetNvLinkState(h, link):
                    continue
            except nv.NVMLError as exc:
                if getattr(exc, "value", None) == nv.NVML_ERROR_GPU_IS_LOST:
                    raise _Lost(str(exc)) from exc
                break  # no NVLink on this board, or past its last link
            links += 1
            for key, counter in counters.items():
                try:
                    value = nv.nvmlDeviceGetNvLinkErrorCounter(h, link, counter)
                except nv.NVMLError as exc:
                    if getattr(exc, "value", None) == nv.NVML_ERROR_GPU_IS_LOST:
                        raise _Lost(str(exc)) from exc
                    continue
                sums[key] = sums.get(key, 0.0) + float(value)
        if links:
            reading.metrics["nvlink_links_active"] = float(links)
            reading.metrics.update(sums)

    def _poll_events(self, now: float) -> dict[int, list[XidEvent]]:
        """Drain pending Xid events without waiting (timeout 0 ms)."""
        nv, found = self._module, {}  # type: ignore[var-annotated]
        if self._events is None:
            return found
        for _ in range(256):
            try:
                data = nv.nvmlEventSetWait_v2(self._events, 0)
            except nv.NVMLError:
                break  # NVML_ERROR_TIMEOUT: nothing pending
            index = self._handle_index.get(_handle_key(data.device))
            if index is not None and int(data.eventType) & nv.nvmlEventTypeXidCriticalError:
                found.setdefault(index, []).append(XidEvent(code=int(data.eventData), time=now))
        return found

    def _read_kernel_log(self) -> list[tuple[str, int, str]]:
        if self._kernel_log is None and self._kernel_log_spec:
            self._kernel_log = open_kernel_log(self._kernel_log_spec)  # at the first round: from now on
            self._kernel_log_spec = None
        if self._kernel_log is None:
            return []
        return [p for p in map(parse_kernel_xid, self._kernel_log.lines()) if p]


def put(metrics: dict[str, float], key: str, value: Any, scale: float = 1.0) -> None:
    """Store ``value * scale`` under ``key`` unless the read returned nothing."""
    if value is not None:
        metrics[key] = float(value) * scale


def _bus_key(bus_id: str) -> tuple[int, int, int] | None:
    """(domain, bus, device) from NVML's ``00000000:18:00.0`` or the kernel's ``0000:18:00``."""
    parts = bus_id.split(":")
    try:
        domain = int(parts[0], 16) if len(parts) == 3 else 0
        return domain, int(parts[-2], 16), int(parts[-1].split(".")[0], 16)
    except (ValueError, IndexError):
        return None


def _handle_key(handle: Any) -> Any:
    """A hashable identity for an NVML device handle (a ctypes pointer in the real library)."""
    try:
        return ctypes.cast(handle, ctypes.c_void_p).value
    except (TypeError, ctypes.ArgumentError):
        return handle
