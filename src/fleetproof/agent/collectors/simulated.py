"""A deterministic simulated backend with injectable faults.

It stands in for a host with any number of accelerators (modelled on an
H100 80GB HBM3 SXM board: 700 W limit, 81559 MiB of memory) so that the agent,
its health checks, exporters and benchmarks can run anywhere. Values depend
only on the seed, the device index and the round number, so two runs with the
same settings produce the same readings.

Faults are written ``KIND[@DEVICE][+AFTER_S]`` and start ``AFTER_S`` seconds
after the collector was created (default 0) on device ``DEVICE`` (default 0):

=============  =============================================================
``xidNN``      one Xid NN event (e.g. ``xid79``, ``xid48``)
``ecc_storm``  thousands of corrected ECC errors each round
``ecc_dbe``    an uncorrectable (double-bit) ECC error and a pending row remap
``remap_fail`` a row-remapping failure (no spare rows left)
``thermal``    92 °C and hardware/software thermal slowdown
``power``      power at the limit and software power capping
``off_bus``    the device falls off the bus (Xid 79, then unreachable)
``no_persist`` persistence mode disabled
=============  =============================================================
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Snapshot, XidEvent
from fleetproof.agent.setting import Option, Setting
from fleetproof.errors import ConfigError

__all__ = ["Fault", "SimulatedCollector", "parse_faults"]

MIB = 1024 * 1024
MEMORY_TOTAL_BYTES = 81559 * MIB
POWER_LIMIT_W = 700.0
FAULT_KINDS = ("ecc_storm", "ecc_dbe", "remap_fail", "thermal", "power", "off_bus", "no_persist")
_FAULT_RE = re.compile(
    r"^(?P<kind>xid(?P<xid>\d{1,3})|[a-z_]+)(?:@(?P<dev>\d+))?(?:\+(?P<after>\d+(?:\.\d+)?))?$"
)


@dataclass(frozen=True)
class Fault:
    kind: str
    device: int = 0
    after_s: float = 0.0
    xid: int | None = None


def parse_faults(spec: str | Iterable[str]) -> list[Fault]:
    """Parse ``"xid79@2+30,thermal@1"`` (or a list of such items) into faults."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    faults = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        m = _FAULT_RE.match(item)
        if not m or (m["xid"] is None and m["kind"] not in FAULT_KINDS):
            kinds = ", ".join(("xidNN", *FAULT_KINDS))
            raise ConfigError(
                f"bad simulated fault {item!r}; expected KIND[@DEVICE][+AFTER_S], KIND one of {kinds}"
            )
        xid = int(m["xid"]) if m["xid"] is not None else None
        faults.append(
            Fault(
                kind="xid" if xid is not None else m["kind"],
                device=int(m["dev"] or 0),
                after_s=float(m["after"] or 0.0),
                xid=xid,
            )
        )
    return faults


def _noise(seed: int, device: int, round_no: int, salt: str) -> float:
    """A deterministic number in [0, 1) from its inputs (no global random state)."""
    digest = hashlib.blake2b(f"{seed}:{device}:{round_no}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


_ECC = ("ecc_volatile_corrected_total", "ecc_volatile_uncorrected_total")
_T, _M, _P = (
    ("temperature_c", "utilization_percent"),
    ("memory_used_bytes", "memory_total_bytes"),
    ("power_w", "power_limit_w"),
)


@dataclass(frozen=True)
class SimulatedModel:
    """How a simulated device of one vendor looks: its model, sizes and the gaps of its tool.

    The gaps copy what that vendor's real collector reads from the public recordings in
    tests/fixtures: ``reads`` lists the metrics its tool shows (None: everything simulated);
    ``identity`` "bus" means the tool shows no UUID and the bus id stands in
    (``PREFIX-<bus id>``), "index" that not even a bus id is shown (``PREFIX-<n>``), "serial"
    that the tool's own id is a serial-like string (``W`` and 11 digits on Enflame); ``power``
    "alternate" that only one chip of each two-chip board reports power; ``memory_mib`` None that
    memory use is shown only as a percentage (``vram_used_percent``). A fault whose metric the
    tool does not show (an ECC fault on a Cambricon host) is invisible, as it would be.
    """

    model: str
    memory_mib: int | None = 81559
    power_limit_w: float = 700.0
    identity: str = "uuid"
    id_prefix: str = "GPU"
    reads: tuple[str, ...] | None = None
    power: str = "all"
    nvidia_metrics: bool = False  # NVLink counters, row remapping, memory temperature, PCIe replays
    driver_version: str | None = None


SIMULATED_MODELS: dict[str, SimulatedModel] = {
    "simulated": SimulatedModel("Simulated H100 80GB HBM3", nvidia_metrics=True),
    "nvidia": SimulatedModel("H100 80GB HBM3 (simulated)", nvidia_metrics=True),
    "amd": SimulatedModel("Instinct MI300X (simulated)", 196592, 750.0),
    "gaudi": SimulatedModel("HL-225 Gaudi 2 (simulated)", 98304, 600.0),
    "ascend": SimulatedModel(
        "Ascend 910B3 (simulated)", 65536, 400.0, "bus", "NPU", (*_T, *_M, "power_w"), driver_version="23.0.6"
    ),
    "cambricon": SimulatedModel(
        "MLU370-X8 (simulated)", 23374, 250.0, "bus", "MLU", (*_T, *_M, *_P), driver_version="5.10.13"
    ),
    "hygon": SimulatedModel(
        "Hygon DCU (simulated)", None, 800.0, "index", "DCU", (*_T, *_P, "vram_used_percent")
    ),
    "moorethreads": SimulatedModel(
        "MTT S5000 (simulated)", 81920, 600.0, "bus", "MTGPU", (*_T, *_M), driver_version="5.1.0-server"
    ),
    "kunlunxin": SimulatedModel(
        "Kunlunxin P800 OAM (simulated)",
        98304,
        400.0,
        "bus",
        "XPU",
        (*_T, *_M, *_P, "ecc_volatile_uncorrected_total"),
        driver_version="5.0.21.21",
    ),
    "iluvatar": SimulatedModel(
        "Iluvatar BI-V150 (simulated)",
        32768,
        350.0,
        "bus",
        "GPU",
        (*_T, *_M, *_P, "clock_sm_mhz", "clock_memory_mhz"),
        power="alternate",
        driver_version="4.3.0",
    ),
    "metax": SimulatedModel(
        "MetaX C550 (simulated)", 65536, 450.0, "bus", "GPU", (*_T, *_M, *_P), driver_version="2.15.9"
    ),
    "enflame": SimulatedModel(
        "Enflame T20 (simulated)",
        32768,
        300.0,
        "serial",
        "W",
        reads=(*_T, "memory_total_bytes", *_P),
        driver_version="2.4.20230829",
    ),
    "intel": SimulatedModel(
        "Intel(R) Graphics [0x020a] (simulated)",
        32768,
        reads=(*_T, *_M, "power_w", "clock_sm_mhz", "memory_utilization_percent", *_ECC),
        driver_version="16929133",
    ),
}
_NVIDIA_ONLY = ("nvlink_", "remapped_rows_", "memory_temperature_c", "pcie_replay_total")


class SimulatedCollector:
    """N simulated accelerators; see the module docstring for the fault syntax."""

    name = "simulated"
    options = (
        Option(Setting("simulated_devices", 8, "Number of devices of the simulated backend."), "devices"),
        Option(
            Setting("simulated_seed", 0, "Seed of the simulated backend (same seed, same readings)."), "seed"
        ),
        Option(
            Setting(
                "simulated_vendor",
                "simulated",
                "Vendor label of the simulated devices (simulated, nvidia, amd, gaudi, ascend); "
                "the readings stay simulated.",
            ),
            "vendor",
        ),
        Option(
            Setting(
                "simulated_faults",
                "",
                "Faults to inject into the simulated backend, e.g. `xid79@2+30,thermal@1`.",
            ),
            "faults",
        ),
    )

    def __init__(
        self,
        devices: int = 8,
        seed: int = 0,
        faults: str | Iterable[str] | Iterable[Fault] = (),
        clock: Callable[[], float] = time.time,
        driver_version: str = "550.90.07",
        vendor: str = "simulated",
        **_: object,
    ) -> None:
        if devices < 0 or devices > 256:
            raise ConfigError(f"simulated_devices must be between 0 and 256, not {devices}")
        self.devices = devices
        self.seed = seed
        items = list(faults) if not isinstance(faults, str) else [faults]
        if items and all(isinstance(f, Fault) for f in items):
            self.faults: list[Fault] = [f for f in items if isinstance(f, Fault)]
        else:
            self.faults = parse_faults([s for f in items if isinstance(f, str) for s in f.split(",")])
        for fault in self.faults:
            if fault.device >= devices:
                raise ConfigError(
                    f"simulated fault {fault.kind} names device {fault.device}, but there are {devices}"
                )
        self.clock = clock
        self.driver_version = driver_version
        # The label only: a demo fleet can show "nvidia" and "amd" hosts; the readings stay simulated.
        self.vendor = vendor or "simulated"
        self.profile = SIMULATED_MODELS.get(self.vendor, SIMULATED_MODELS["simulated"])
        self.model = self.profile.model
        if self.profile.driver_version and driver_version == "550.90.07":
            self.driver_version = self.profile.driver_version
        self.started = clock()
        self.round = 0
        self._ecc = [[0, 0, 0, 0] for _ in range(devices)]  # vol corr, vol unc, agg corr, agg unc
        self._xids_sent: set[tuple[int, int, float]] = set()
        # Energy (mJ) and clock-limited time (ns) per device, as NVML counts them: integrated over
        # the time between reads, from the power drawn and the throttle reasons active.
        self._energy_mj = [0.0] * devices
        self._throttle_ns = [{"power": 0.0, "thermal": 0.0} for _ in range(devices)]
        self._last_read: list[float | None] = [None] * devices

    def available(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def info(self, index: int) -> DeviceInfo:
        p = self.profile
        bus_id = f"00000000:{0x18 + index * 0x10 & 0xFF:02X}:00.0"
        uuid = {
            "bus": f"{p.id_prefix}-{bus_id}",
            "index": f"{p.id_prefix}-{index}",
            "serial": f"{p.id_prefix}{self.seed:05d}{index:06d}",
        }.get(p.identity, f"GPU-5e{self.seed:06x}-0000-4000-8000-{index:012x}")
        return DeviceInfo(
            index=index,
            vendor=self.vendor,
            model=self.model,
            uuid=uuid,
            serial=f"SIM{self.seed:04d}{index:06d}" if p.identity == "uuid" else None,
            bus_id=bus_id if p.identity != "index" else None,
            driver_version=self.driver_version,
            firmware_version="96.00.99.00.01" if p.identity == "uuid" else None,
            memory_total_bytes=p.memory_mib * MIB if p.memory_mib else None,
        )

    def _active(self, index: int, now: float) -> list[Fault]:
        elapsed = now - self.started
        return [f for f in self.faults if f.device == index and elapsed >= f.after_s]

    def collect(self) -> Snapshot:
        now = self.clock()
        self.round += 1
        return Snapshot(
            collector=self.name, time=now, devices=[self._read(i, now) for i in range(self.devices)]
        )

    def _read(self, index: int, now: float) -> DeviceReading:
        active = self._active(index, now)
        kinds = {f.kind for f in active}
        reading = DeviceReading(info=self.info(index), persistence_mode="no_persist" not in kinds)
        for fault in active:
            code = fault.xid if fault.kind == "xid" else 79 if fault.kind == "off_bus" else None
            key = (index, code or 0, fault.after_s)
            if code is not None and key not in self._xids_sent:
                self._xids_sent.add(key)
                reading.xid_events.append(XidEvent(code=code, time=now, message=f"simulated Xid {code}"))
        if "off_bus" in kinds:
            reading.lost = True
            reading.errors.append("GPU is lost (fell off the bus)")
            return reading
        self._fill_metrics(reading, index, kinds, now)
        return reading

    def _fill_metrics(self, reading: DeviceReading, index: int, kinds: set[str], now: float) -> None:
        r = self.round

        def n(salt: str) -> float:
            return _noise(self.seed, index, r, salt)

        p = self.profile
        limit = p.power_limit_w
        total = p.memory_mib * MIB if p.memory_mib else MEMORY_TOTAL_BYTES
        util = round(60 + 40 * n("util"))
        power = (120 + 5.2 * util + 20 * n("power")) * limit / POWER_LIMIT_W
        temp = 34 + 0.35 * util + 3 * n("temp")
        sm_clock = 1980.0
        reasons: set[str] = set()
        if "thermal" in kinds:
            temp, sm_clock = 92.0 + 2 * n("temp"), 1305.0
            reasons |= {"hw_thermal_slowdown", "sw_thermal_slowdown"}
        if "power" in kinds:
            # A power brake from outside the board (a failing supply): clocks well down, power too.
            power, sm_clock = 0.6 * limit - 10 * n("power"), min(sm_clock, 1095.0)
            reasons.add("hw_power_brake_slowdown")
        ecc = self._ecc[index]
        if "ecc_storm" in kinds:
            burst = 4000 + int(2000 * n("ecc"))
            ecc[0] += burst
            ecc[2] += burst
        if "ecc_dbe" in kinds and ecc[1] == 0:
            ecc[1] += 1
            ecc[3] += 1
        reading.throttle_reasons = frozenset(reasons)
        last, self._last_read[index] = self._last_read[index], now
        dt = max(0.0, now - last) if last is not None else 0.0
        self._energy_mj[index] += power * dt * 1000.0
        limited = self._throttle_ns[index]
        if reasons & {"hw_thermal_slowdown", "sw_thermal_slowdown"}:
            limited["thermal"] += dt * 1e9
        if "hw_power_brake_slowdown" in reasons:
            limited["power"] += dt * 1e9
        reading.metrics = {
            "temperature_c": round(temp, 1),
            "memory_temperature_c": round(temp + 6, 1),
            "power_w": round(power, 2),
            "power_limit_w": limit,
            "clock_sm_mhz": sm_clock,
            "clock_memory_mhz": 2619.0,
            "utilization_percent": float(util),
            "memory_utilization_percent": float(round(util * 0.6)),
            "memory_used_bytes": float(int(total * (0.5 + 0.4 * n("mem"))) // MIB * MIB),
            "memory_total_bytes": float(total),
            "ecc_volatile_corrected_total": float(ecc[0]),
            "ecc_volatile_uncorrected_total": float(ecc[1]),
            "ecc_aggregate_corrected_total": float(ecc[2]),
            "ecc_aggregate_uncorrected_total": float(ecc[3]),
            "remapped_rows_correctable": 0.0,
            "remapped_rows_uncorrectable": float(ecc[3]),
            "remapped_rows_pending": 1.0 if "ecc_dbe" in kinds else 0.0,
            "remapped_rows_failure": 1.0 if "remap_fail" in kinds else 0.0,
            "pcie_replay_total": 0.0,
            "nvlink_crc_errors_total": 0.0,
            "energy_mj_total": round(self._energy_mj[index]),
            "throttle_power_ns_total": limited["power"],
            "throttle_thermal_ns_total": limited["thermal"],
        }
        self._apply_quirks(reading, index)

    def _apply_quirks(self, reading: DeviceReading, index: int) -> None:
        """Drop what this vendor's tool does not show, as its real collector would."""
        p, m = self.profile, reading.metrics
        if p.memory_mib is None:
            m["vram_used_percent"] = round(100 * m["memory_used_bytes"] / m["memory_total_bytes"])
        keep = (
            set(p.reads)
            if p.reads is not None
            else {k for k in m if p.nvidia_metrics or not k.startswith(_NVIDIA_ONLY)}
        )
        if p.power == "alternate" and index % 2 == 0:
            keep -= {"power_w", "power_limit_w"}
        reading.metrics = {k: v for k, v in m.items() if k in keep}
