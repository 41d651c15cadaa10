"""The prober's record parser (no pydantic) and ``MeasurementRecord`` (pydantic) agree.

The agent's prober checks a landmark's record with :func:`parse_record_json`; the server, the CLI and
evidence bundles use the model. Both must accept the same records, refuse the same ones, and give
the same JSON. Where the parser is deliberately stricter, the case says so: a spelling (a number
as text, ``true`` for 1) that pydantic's lax mode converts and that the landmark never writes (it
signs with :func:`signed_record_json`, the "good" case).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from pydantic import ValidationError

from fleetproof.probe.keys import generate_key, public_key_b64
from fleetproof.probe.record_check import (
    RecordError,
    SignedRecord,
    parse_record_json,
    signed_record_json,
    verify_record,
)
from fleetproof.probe.records import MeasurementRecord

LANDMARK = generate_key()
DEVICE = public_key_b64(generate_key())


def _good() -> dict[str, Any]:
    raw = signed_record_json(
        key=LANDMARK,
        device_id="gpu-01",
        device_public_key=DEVICE,
        landmark_id="fra",
        session_id="0123456789abcdef",
        samples_ms=[3.25, 2.5, 4.0],
        lost=1,
        time=1_700_000_000.5,
    )
    doc: dict[str, Any] = json.loads(raw)
    return doc


def test_the_fields_are_the_models() -> None:
    fields = dataclasses.fields(SignedRecord)
    assert [f.name for f in fields] == list(MeasurementRecord.model_fields)
    for f in fields:
        info = MeasurementRecord.model_fields[f.name]
        assert (f.default is dataclasses.MISSING) == info.is_required(), f.name
        if f.default is not dataclasses.MISSING:
            assert f.default == info.default, f.name


# (name, change to the good record (None deletes the field), plain parser is stricter)
CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("good", {}, False),
    ("no signature", {"signature": None}, False),
    ("no version", {"version": None}, False),
    ("version 2", {"version": 2}, False),
    ("version true", {"version": True}, True),
    ("unknown field", {"extra": 1}, False),
    ("device_id empty", {"device_id": ""}, False),
    ("device_id at max", {"device_id": "d" * 128}, False),
    ("device_id past max", {"device_id": "d" * 129}, False),
    ("device_id a number", {"device_id": 7}, False),
    ("device_id missing", {"device_id": None}, False),
    ("key 43", {"device_public_key": DEVICE[:43]}, False),
    ("key 45", {"device_public_key": DEVICE + "A"}, False),
    ("landmark_id empty", {"landmark_id": ""}, False),
    ("landmark_id past max", {"landmark_id": "l" * 129}, False),
    ("session upper case", {"session_id": "0123456789ABCDEF"}, False),
    ("session 15", {"session_id": "0123456789abcde"}, False),
    ("session 17", {"session_id": "0123456789abcdef0"}, False),
    ("session newline", {"session_id": "0123456789abcdef\n"}, False),
    ("session a number", {"session_id": 123}, False),
    ("no samples", {"samples_ms": []}, False),
    ("64 samples", {"samples_ms": [1.0] * 64, "rtt_ms": 1.0}, False),
    ("65 samples", {"samples_ms": [1.0] * 65, "rtt_ms": 1.0}, False),
    ("negative sample", {"samples_ms": [-1.0, 2.0], "rtt_ms": 2.0}, False),
    ("integer samples", {"samples_ms": [3, 2], "rtt_ms": 2}, False),
    ("samples not a list", {"samples_ms": {"a": 1}}, False),
    ("sample as text", {"samples_ms": ["2.5"]}, True),
    ("sample true", {"samples_ms": [True]}, True),
    ("rtt negative", {"rtt_ms": -0.5}, False),
    ("rtt as text", {"rtt_ms": "2.5"}, True),
    ("lost at max", {"lost": 1024}, False),
    ("lost past max", {"lost": 1025}, False),
    ("lost negative", {"lost": -1}, False),
    ("lost integral float", {"lost": 1.0}, False),
    ("lost fractional", {"lost": 1.5}, False),
    ("time as text", {"time": "1700000000.5"}, True),
    ("time an object", {"time": {}}, False),
    ("signature past max", {"signature": "s" * 101}, False),
    ("signature a number", {"signature": 5}, False),
]


def _body(change: dict[str, Any]) -> bytes:
    doc = _good()
    for name, value in change.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return json.dumps(doc).encode()


def _model(body: bytes) -> MeasurementRecord | None:
    try:
        return MeasurementRecord.model_validate_json(body)
    except ValidationError:
        return None


def _plain(body: bytes) -> SignedRecord | None:
    try:
        return parse_record_json(body)
    except RecordError:
        return None


@pytest.mark.parametrize(("name", "change", "stricter"), CASES, ids=[c[0] for c in CASES])
def test_parser_and_model_accept_and_refuse_the_same_records(
    name: str, change: dict[str, Any], stricter: bool
) -> None:
    body = _body(change)
    model, plain = _model(body), _plain(body)
    if stricter:  # a spelling pydantic's lax mode converts and no landmark of ours writes
        assert plain is None and model is not None
        return
    assert (plain is None) == (model is None), name
    if plain is not None and model is not None:
        assert plain.to_dict() == model.model_dump(mode="json")
        assert plain.body() == model.body()


def test_non_finite_numbers_are_refused_on_both_sides() -> None:
    for field, token in (("time", "NaN"), ("time", "Infinity"), ("samples_ms", "[NaN]"), ("rtt_ms", "NaN")):
        text = json.dumps(_good()).replace(f'"{field}": {json.dumps(_good()[field])}', f'"{field}": {token}')
        assert token in text
        assert _plain(text.encode()) is None, (field, token)
        model = _model(text.encode())
        if model is not None:  # taken by the model's lax parse, but no such record verifies
            with pytest.raises(RecordError):
                verify_record(model, LANDMARK.public_key())


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b"{", b"\xff\xfe", b'"text"'])
def test_what_is_not_a_record_object_is_refused(body: bytes) -> None:
    assert _model(body) is None
    with pytest.raises(RecordError):
        parse_record_json(body)


def test_errors_name_the_field() -> None:
    with pytest.raises(RecordError, match="session_id"):
        parse_record_json(_body({"session_id": "XYZ"}))
    with pytest.raises(RecordError, match="lost"):
        parse_record_json(_body({"lost": 5000}))
    with pytest.raises(RecordError, match="unknown field"):
        parse_record_json(_body({"rtt_us": 1}))


def test_a_good_record_verifies_in_both_forms_and_an_edited_one_in_neither() -> None:
    body = _body({})
    plain, model = parse_record_json(body), MeasurementRecord.model_validate_json(body)
    verify_record(plain, LANDMARK.public_key())
    verify_record(model, LANDMARK.public_key())
    edited = _body({"samples_ms": [3.25, 2.0, 4.0], "rtt_ms": 2.0})
    with pytest.raises(RecordError, match="does not verify"):
        verify_record(parse_record_json(edited), LANDMARK.public_key())
    with pytest.raises(RecordError, match="does not verify"):
        verify_record(MeasurementRecord.model_validate_json(edited), LANDMARK.public_key())
