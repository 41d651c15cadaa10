from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetproof.errors import InputError
from fleetproof.probe.keys import generate_key, public_key_b64
from fleetproof.probe.records import (
    LandmarkEntry,
    MeasurementRecord,
    RecordError,
    canonical_bytes,
    load_landmark_directory,
    min_rtts,
    read_records,
    sign_record,
    verify_record,
    write_landmark_directory,
    write_records,
)

LANDMARK = generate_key()
DEVICE = generate_key()


def make(
    samples: list[float] | None = None, device_id: str = "host-1", landmark_id: str = "lon"
) -> MeasurementRecord:
    return sign_record(
        key=LANDMARK,
        device_id=device_id,
        device_public_key=public_key_b64(DEVICE),
        landmark_id=landmark_id,
        session_id="00112233aabbccdd",
        samples_ms=samples or [5.1234567, 4.25, 6.0],
        lost=1,
        time=1_800_000_000.5,
    )


def test_signed_record_verifies_and_rtt_is_minimum() -> None:
    record = make()
    assert record.rtt_ms == 4.25
    assert record.samples_ms[0] == 5.123457  # rounded to whole nanoseconds
    verify_record(record, LANDMARK.public_key())
    verify_record(record, public_key_b64(LANDMARK))


def test_json_round_trip_keeps_signature_valid() -> None:
    record = make()
    again = MeasurementRecord.model_validate_json(record.model_dump_json())
    assert canonical_bytes(again) == canonical_bytes(record)
    verify_record(again, LANDMARK.public_key())


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("rtt_ms", 1.0, "not the minimum"),
        ("samples_ms", [4.25, 4.25, 6.0], "signature does not verify"),
        ("device_id", "host-2", "signature does not verify"),
        ("landmark_id", "nyc", "signature does not verify"),
        ("lost", 0, "signature does not verify"),
        ("time", 1_800_000_001.0, "signature does not verify"),
        ("signature", "", "missing"),
    ],
)
def test_any_edit_fails(field: str, value: object, reason: str) -> None:
    tampered = make().model_copy(update={field: value})
    with pytest.raises(RecordError, match=reason):
        verify_record(tampered, LANDMARK.public_key())


def test_other_landmark_key_fails() -> None:
    with pytest.raises(RecordError, match="signature does not verify"):
        verify_record(make(), generate_key().public_key())


def test_model_rejects_bad_values() -> None:
    body = make().model_dump()
    for bad in (
        {"samples_ms": []},
        {"samples_ms": [-1.0]},
        {"session_id": "xyz"},
        {"extra": 1},
        {"version": 2},
    ):
        with pytest.raises(ValueError):
            MeasurementRecord.model_validate({**body, **bad})


def test_jsonl_round_trip_and_located_errors(tmp_path: Path) -> None:
    records = [make(), make(samples=[3.0], landmark_id="nyc"), make(samples=[2.0])]
    write_records(tmp_path / "r.jsonl", records)
    assert read_records(tmp_path / "r.jsonl") == records
    assert min_rtts(records) == {("host-1", "lon"): 2.0, ("host-1", "nyc"): 3.0}
    (tmp_path / "bad.jsonl").write_text(records[0].model_dump_json() + '\n{"version": 1}\n')
    with pytest.raises(InputError, match=r"bad.jsonl, line 2: not a measurement record"):
        read_records(tmp_path / "bad.jsonl")


def test_directory_round_trip(tmp_path: Path) -> None:
    key = generate_key()
    entry = LandmarkEntry("lon", 51.5074, -0.1278, "127.0.0.1:7331", key.public_key())
    write_landmark_directory(tmp_path / "d.csv", [entry])
    loaded = load_landmark_directory(tmp_path / "d.csv")
    assert list(loaded) == ["lon"]
    assert (loaded["lon"].lat, loaded["lon"].port, loaded["lon"].host) == (51.5074, 7331, "127.0.0.1")
    assert loaded["lon"].public_key_b64 == public_key_b64(key)


GOOD_KEY = public_key_b64(generate_key())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("id,lat,lon,address\n", "line 1: missing column(s): public_key"),
        ("id,lat,lon,address,public_key\n", "no landmarks listed"),
        (f"id,lat,lon,address,public_key\na,95,0,h:1,{GOOD_KEY}\n", "line 2: lat 95 is out of range"),
        (f"id,lat,lon,address,public_key\na,x,0,h:1,{GOOD_KEY}\n", "line 2: lat/lon are not numbers"),
        (f"id,lat,lon,address,public_key\na,1,0,h,{GOOD_KEY}\n", "line 2: address 'h' is not HOST:PORT"),
        (f"id,lat,lon,address,public_key\na,1,0,h:0,{GOOD_KEY}\n", "no valid port"),
        ("id,lat,lon,address,public_key\na,1,0,h:1,AAAA\n", "line 2: public key must be 32 bytes"),
        (f"id,lat,lon,address,public_key\na,1,0,h:1,{GOOD_KEY}\na,2,0,h:2,{GOOD_KEY}\n", "line 3: duplicate"),
        (f"id,lat,lon,address,public_key\n,1,0,h:1,{GOOD_KEY}\n", "line 2: id is empty"),
    ],
)
def test_directory_errors_are_located(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "DIR.csv"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load_landmark_directory(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


@settings(max_examples=60, deadline=None)
@given(
    samples=st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), min_size=1, max_size=64),
    device_id=st.text(min_size=1, max_size=40),
    bump=st.integers(min_value=0, max_value=63),
)
def test_any_record_survives_json_and_any_sample_edit_breaks_it(
    samples: list[float], device_id: str, bump: int
) -> None:
    record = make(samples=samples, device_id=device_id) if samples else make()
    again = MeasurementRecord.model_validate_json(record.model_dump_json())
    verify_record(again, LANDMARK.public_key())
    edited = list(again.samples_ms)
    i = bump % len(edited)
    edited[i] = edited[i] + 0.001
    with pytest.raises(RecordError):
        verify_record(
            again.model_copy(update={"samples_ms": edited, "rtt_ms": min(edited)}), LANDMARK.public_key()
        )


def test_fast_record_json_is_exactly_the_signed_model() -> None:
    from fleetproof.probe.records import signed_record_json

    fields: dict[str, object] = dict(
        device_id="hôst-1",
        device_public_key=public_key_b64(DEVICE),
        landmark_id="lon",
        session_id="00112233aabbccdd",
        samples_ms=[5.1234567, 0.0123454, 6.0],
        lost=2,
        time=1_800_000_000,
    )
    fast = MeasurementRecord.model_validate_json(signed_record_json(key=LANDMARK, **fields))  # type: ignore[arg-type]
    assert fast == sign_record(key=LANDMARK, **fields)  # type: ignore[arg-type]
    verify_record(fast, LANDMARK.public_key())


def test_enrolled_device_key_check() -> None:
    record = make()
    verify_record(record, LANDMARK.public_key(), device_public_key=public_key_b64(DEVICE))
    with pytest.raises(RecordError, match="another device key"):
        verify_record(record, LANDMARK.public_key(), device_public_key=public_key_b64(generate_key()))
