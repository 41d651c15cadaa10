"""A bundle checks out as exported; changing any one value a verdict depends on makes it fail, by name."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import fleetproof.cli
from fleetproof.probe.keys import public_key_b64
from fleetproof.protocol.curve25519 import Ed25519PrivateKey

Doc = dict[str, Any]


def run_verify(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = fleetproof.cli.main(["evidence", "verify", str(path), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def landmark(doc: Doc, lm_id: str) -> Doc:
    return next(lm for lm in doc["landmarks"] if lm["id"] == lm_id)


def first_record_of(doc: Doc, lm_id: str) -> Doc:
    return next(r for r in doc["records"] if r["landmark_id"] == lm_id)


def lower_rtt(doc: Doc) -> None:
    """The device's RTT to Paris made 1 ms smaller, sample and minimum alike (a consistent edit)."""
    rec = first_record_of(doc, "par")
    low = min(rec["samples_ms"])
    rec["samples_ms"] = [s - 1.0 if s == low else s for s in rec["samples_ms"]]
    rec["rtt_ms"] = low - 1.0


def rtt_not_min(doc: Doc) -> None:
    first_record_of(doc, "fra")["rtt_ms"] += 5.0


def change_sample(doc: Doc) -> None:
    rec = first_record_of(doc, "mad")
    rec["samples_ms"][-1] = round(rec["samples_ms"][-1] + 0.25, 6)


def move_landmark_statement(doc: Doc) -> None:
    landmark(doc, "waw")["statements"][0]["lat"] += 1.0


def move_landmark_in_verdict(doc: Doc) -> None:
    pos = next(p for p in doc["verdicts"][1]["basis"]["landmarks"] if p["id"] == "rom")
    pos["lat"] += 1.0


def replace_landmark_key(doc: Doc) -> None:
    landmark(doc, "vie")["public_key"] = public_key_b64(Ed25519PrivateKey.generate())


def replace_device_key(doc: Doc) -> None:
    doc["device"]["public_key"] = public_key_b64(Ed25519PrivateKey.generate())


def flip_verdict(doc: Doc) -> None:
    doc["verdicts"][2]["verdict"] = "proven"


def flip_suspicious(doc: Doc) -> None:
    doc["verdicts"][0]["suspicious"] = not doc["verdicts"][0]["suspicious"]


def move_estimate(doc: Doc) -> None:
    doc["verdicts"][0]["estimate"]["lat"] += 0.5


def widen_zone(doc: Doc) -> None:
    doc["zones"][0]["allowed_countries"] = ["DE", "FR", "PL"]


def another_zone(doc: Doc) -> None:
    doc["device"]["zone"] = "jp"


def drop_record_from_basis(doc: Doc) -> None:
    """A verdict that claims to rest on fewer records than it used."""
    basis = doc["verdicts"][0]["basis"]
    basis["records"] = [i for i in basis["records"] if doc["records"][i]["landmark_id"] != "lon"]


def loosen_tolerance(doc: Doc) -> None:
    doc["verdicts"][1]["basis"]["engine"]["tolerance"] = 0


def faster_than_light(doc: Doc) -> None:
    doc["verdicts"][1]["basis"]["engine"]["v_max_km_per_ms"] = 400.0


def deep_refinement(doc: Doc) -> None:
    doc["verdicts"][0]["basis"]["engine"]["refine_depth"] = 40


def change_mesh_rtt(doc: Doc) -> None:
    doc["mesh"][3]["rtt_ms"] += 2.0


def change_mesh_record(doc: Doc) -> None:
    rec = doc["mesh"][5]["record"]
    rec["samples_ms"][0] = round(rec["samples_ms"][0] + 0.5, 6)


def drop_mesh_record(doc: Doc) -> None:
    """An unsigned mesh pair with a smaller RTT: the delay model changes, so the estimates do."""
    entry = doc["mesh"][0]
    entry["record"] = None
    entry["rtt_ms"] = round(entry["rtt_ms"] * 0.5, 3)


def contradicting_mesh(doc: Doc) -> None:
    """An unsigned mesh pair claiming Paris and Warsaw 1 ms apart: vetting must quarantine one of them."""
    entry = next(e for e in doc["mesh"] if (e["source_id"], e["target_id"]) == ("par", "waw"))
    entry["record"], entry["rtt_ms"] = None, 1.0


def attestation_nonce(doc: Doc) -> None:
    att = doc["device"]["attestation"]
    att["nonce_hex"] = att["nonce_hex"][:-1] + ("0" if att["nonce_hex"][-1] != "0" else "1")


def attestation_challenge(doc: Doc) -> None:
    """Evidence presented as answering another enrollment's challenge."""
    doc["device"]["attestation"]["challenge_hex"] = "ab" * 32


def attestation_hardware_bound(doc: Doc) -> None:
    doc["device"]["attestation"]["hardware_bound"] = True


def attestation_relabelled_nvidia(doc: Doc) -> None:
    """Software evidence passed off as a GPU's: no nvattest report backs it."""
    doc["device"]["attestation"].update(attestor="nvidia", hardware_bound=True)


TAMPERS: list[tuple[str, Callable[[Doc], None], str]] = [
    ("an RTT and its sample", lower_rtt, "signature does not verify under landmark 'par'"),
    ("an RTT that is not the minimum", rtt_not_min, "rtt_ms"),
    ("a sample", change_sample, "signature does not verify under landmark 'mad'"),
    ("a landmark's stated position", move_landmark_statement, "landmark waw: position statement 0"),
    ("a landmark's position in a verdict", move_landmark_in_verdict, "landmark rom at"),
    ("a landmark's key", replace_landmark_key, "landmark vie: position statement"),
    ("the device key", replace_device_key, "measured for another device key"),
    (
        "the device key, against its attestation",
        replace_device_key,
        "(software): not bound to the enrolled key",
    ),
    ("the attestation nonce", attestation_nonce, "(software): not bound to the enrolled key"),
    ("the attestation challenge", attestation_challenge, "another key or another enrollment"),
    ("the attestor's hardware_bound", attestation_hardware_bound, "claims hardware_bound"),
    ("software evidence relabelled nvidia", attestation_relabelled_nvidia, "without the nvattest report"),
    ("a verdict", flip_verdict, "verdict: stored 'proven', recomputed 'consistent'"),
    ("a suspicion flag", flip_suspicious, "suspicious: stored"),
    ("an estimate", move_estimate, "estimate.lat: stored"),
    ("a zone's countries", widen_zone, "evidence.claim.countries"),
    ("the device's zone", another_zone, "but the device is enrolled in 'jp'"),
    ("a verdict's records", drop_record_from_basis, "rtts_ms.lon"),
    ("the tolerance", loosen_tolerance, "evidence.tolerance"),
    ("the speed bound", faster_than_light, "faster than light"),
    ("an absurd refinement depth", deep_refinement, "refine_depth 40 is outside 0..6"),
    ("a mesh RTT", change_mesh_rtt, "mesh entry 3"),
    ("a mesh record", change_mesh_record, "mesh entry 5"),
    ("a mesh pair made unsigned and smaller", drop_mesh_record, "estimate"),
    ("a mesh pair that contradicts a landmark", contradicting_mesh, "which vetting quarantines"),
]


def test_the_exported_bundle_verifies(bundle_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_verify(bundle_path, capsys)
    assert code == 0, out
    assert "verdicts: 3 of 3 reproduced" in out and "result: OK" in out
    assert "checked          measurement records: 30 of 30" in out
    assert "operator's word  zone definition" in out
    assert "assumed          speed bound" in out
    assert (
        "checked          device key attestation: the software evidence is bound to the enrolled key" in out
    )
    assert "operator's word  device key: a software key (software attestor, not hardware-bound)" in out


@pytest.mark.parametrize(("what", "tamper", "named"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_changing_what_a_verdict_rests_on_fails_and_says_what(
    exported: tuple[Doc, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    tamper: Callable[[Doc], None],
    named: str,
) -> None:
    doc = copy.deepcopy(exported[0])
    tamper(doc)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    code, out = run_verify(path, capsys)
    assert code == 1, f"{what}: verify passed\n{out}"
    assert "result: FAILED" in out
    assert named in out, out
    assert "Traceback" not in out
