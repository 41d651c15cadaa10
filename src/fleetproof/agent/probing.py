"""The agent's side of location verification: probe the landmarks now and then, queue the signed records.

The landmarks come from ``landmarks_file`` (a ``DIR.csv``: ``id,lat,lon,address,public_key``) when that
setting is given, else from the fleet server the agent is enrolled with (its trusted landmarks). The device
key is the one created at enrollment, so the records name the device the server knows. A round that
cannot reach a landmark reports it in the log and carries on: the server judges what it gets. A round
that cannot get the list from the server raises :class:`~fleetproof.errors.UnavailableError`; the agent
loop logs it and tries again sooner than the next regular round (see ``Agent``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fleetproof.errors import ConfigError, UnavailableError

if TYPE_CHECKING:
    from fleetproof.agent.config import Settings

__all__ = ["make_probe_round"]

log = logging.getLogger("fleetproof.agent.probe")

LandmarkSource = Callable[[], list[Any]]


def _server_landmarks(identity: Any, key: Any, server_url: str) -> LandmarkSource:
    """Ask the server for its trusted landmarks at every round, so quarantines take effect."""
    from fleetproof.agent.client import HttpTransport
    from fleetproof.probe.directory import LandmarkEntry
    from fleetproof.probe.keys import public_key_from_b64

    url = server_url or identity.server_url
    client = HttpTransport(url, identity.device_id, key)

    def fetch() -> list[Any]:
        try:
            rows = client.get_landmarks()
        except UnavailableError as exc:
            raise UnavailableError(f"cannot get the landmark list from {url}: {exc}") from None
        entries = []
        for row in rows:
            # One malformed row must not cost the round its other landmarks.
            try:
                entries.append(
                    LandmarkEntry(
                        id=str(row["id"]),
                        lat=float(row["lat"]),
                        lon=float(row["lon"]),
                        address=str(row["address"]),
                        public_key=public_key_from_b64(row["public_key"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                log.warning(
                    "server landmark %r left out: %s", row.get("id") if isinstance(row, dict) else row, exc
                )
        if not entries:
            log.warning("the server at %s lists no trusted landmarks to probe", url)
        return entries

    return fetch


def make_probe_round(settings: Settings) -> Callable[[], list[dict[str, Any]]] | None:
    """A callable for the agent loop that runs one probe round, or None when probing is off.

    Probing is on when ``probe_interval_s`` is positive and the agent is enrolled (it needs the device
    identity the server knows) or a ``landmarks_file`` is given.
    """
    from fleetproof.agent.identity import KEY_FILE, load_identity

    if settings.probe_interval_s <= 0:
        return None
    state_dir = settings.resolved_state_dir()
    identity = load_identity(state_dir)
    if identity is None:
        if settings.landmarks_file:
            raise ConfigError("`landmarks_file` is set but the agent is not enrolled; run `agent enroll`")
        return None

    from fleetproof.probe.directory import load_landmark_directory
    from fleetproof.probe.keys import load_private_key
    from fleetproof.probe.prober import Prober, UdpTransport

    key = load_private_key(state_dir / KEY_FILE)
    if settings.landmarks_file:
        directory = load_landmark_directory(settings.landmarks_file)

        def landmarks() -> list[Any]:
            return list(directory.values())

    else:
        landmarks = _server_landmarks(identity, key, settings.server_url)
    prober = Prober(
        key=key,
        device_id=identity.device_id,
        transport=UdpTransport(),
        samples=int(settings.probe_samples),
        timeout_s=float(settings.probe_timeout_s),
    )

    def probe_round() -> list[dict[str, Any]]:
        result = prober.probe(landmarks())
        for miss in result.unreachable:
            log.warning("landmark %s unreachable: %s", miss.landmark_id, miss.reason)
        log.info("probe round: %d records, %d unreachable", len(result.signed), len(result.unreachable))
        return [record.to_dict() for record in result.signed]

    return probe_round
