"""Command line of the probe part: ``keys``, ``landmark``, ``probe``, ``records``, ``mesh``, ``netem``.

Cheap to import: everything beyond argparse is imported inside the handlers.
Every handler returns an exit status; user errors are ``fleetproof.errors``
classes, which the top-level CLI turns into one line and a status.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fleetproof.netaddr import AddressError, parse_host_port

__all__ = ["register"]


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_host_port(text, any_port=True)  # port 0: any free port
    except AddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(subparsers: Any) -> None:
    _register_keys(subparsers)
    _register_landmark(subparsers)
    _register_probe(subparsers)
    _register_records(subparsers)
    _register_mesh(subparsers)
    _register_netem(subparsers)


def _register_keys(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="create and inspect Ed25519 keys")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="write a private key (0600) and FILE.pub")
    gen.add_argument("--out", required=True, help="private key file; the public key goes to FILE.pub")
    gen.add_argument("--force", action="store_true", help="overwrite an existing key")
    gen.set_defaults(handler=_keys_generate)
    show = sub.add_parser("public", help="print the public key (base64) of a private key file")
    show.add_argument("key", help="the private key file")
    show.set_defaults(handler=_keys_public)
    attest = sub.add_parser("attest", help="bind a key to hardware evidence (JSON on stdout or --out)")
    attest.add_argument("key", help="the device's private key file")
    attest.add_argument("--attestor", default="software", help="software, nvidia, or a registered plugin")
    attest.add_argument("--challenge", required=True, help="hex challenge from the server")
    attest.add_argument("--out", help="write the evidence here instead of stdout")
    attest.set_defaults(handler=_keys_attest)


def _register_landmark(subparsers: Any) -> None:
    lm = subparsers.add_parser("landmark", help="run a landmark")
    sub = lm.add_subparsers(dest="landmark_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="answer probe sessions over UDP until interrupted")
    serve.add_argument("--id", required=True, help="this landmark's id, as registered with the server")
    serve.add_argument("--lat", type=float, required=True, help="latitude of this landmark, degrees")
    serve.add_argument("--lon", type=float, required=True, help="longitude of this landmark, degrees")
    serve.add_argument(
        "--listen", type=_address, default=("127.0.0.1", 7331), help="HOST:PORT (0 = any port)"
    )
    serve.add_argument("--key", required=True, help="the landmark's private key file")
    serve.add_argument(
        "--nonce-timeout-ms",
        type=_positive,
        default=1000.0,
        help="how long a challenge stays answerable, ms (default 1000)",
    )
    serve.add_argument("--stats-every-s", type=_positive, default=None, help="print counters to stderr")
    serve.add_argument("--duration-s", type=_positive, default=None, help="stop after this long")
    serve.set_defaults(handler=_landmark_serve)
    st = sub.add_parser("statement", help="sign this landmark's position statement (JSON)")
    st.add_argument("--id", required=True, help="the landmark's id, as registered with the server")
    st.add_argument("--lat", type=float, required=True, help="latitude of the landmark, degrees")
    st.add_argument("--lon", type=float, required=True, help="longitude of the landmark, degrees")
    st.add_argument("--key", required=True, help="the landmark's private key file")
    st.add_argument("--time", type=float, default=None, help="Unix time of the statement (default: now)")
    st.add_argument("--out", help="write the statement here instead of stdout")
    st.set_defaults(handler=_landmark_statement)


def _register_probe(subparsers: Any) -> None:
    probe = subparsers.add_parser("probe", help="measure RTTs to landmarks and keep their signed records")
    probe.add_argument("--landmarks", required=True, help="DIR.csv: id,lat,lon,address,public_key")
    probe.add_argument("--key", required=True, help="the device's private key file")
    probe.add_argument("--device-id", required=True, help="the device id the records are signed for")
    probe.add_argument("--samples", type=int, default=10, help="nonces per landmark (1-64)")
    probe.add_argument(
        "--timeout-ms", type=_positive, default=1000.0, help="wait for an answer this long, ms (default 1000)"
    )
    probe.add_argument("--retries", type=int, default=3, help="tries per lost challenge (default 3)")
    probe.add_argument(
        "--jitter-ms", type=float, default=20.0, help="random wait (0..this) before each landmark"
    )
    probe.add_argument("--concurrency", type=int, default=4, help="landmarks probed at once (default 4)")
    probe.add_argument("--out", required=True, help="records.jsonl")
    probe.set_defaults(handler=_probe)


def _register_records(subparsers: Any) -> None:
    rec = subparsers.add_parser("records", help="check and convert measurement records")
    sub = rec.add_subparsers(dest="records_command", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="check every record's fields and landmark signature")
    verify.add_argument("records", help="records file (JSON lines)")
    verify.add_argument("--landmarks", required=True, help="DIR.csv with the landmarks' public keys")
    verify.set_defaults(handler=_records_verify)
    rtts = sub.add_parser("to-rtts", help="write target,landmark,rtt_ms for `fleetproof verify`")
    rtts.add_argument("records", nargs="+", help="records files (JSON lines)")
    rtts.add_argument("--landmarks", required=True, help="DIR.csv; every record is verified first")
    rtts.add_argument("--out", required=True, help="RTT CSV to write (target,landmark,rtt_ms)")
    rtts.add_argument("--landmarks-out", help="also write the engine's landmark file id,lat,lon")
    rtts.add_argument(
        "--time-scale", type=_positive, default=1.0, help="divide RTTs by this (only for emulated delays)"
    )
    rtts.set_defaults(handler=_records_to_rtts)


def _register_mesh(subparsers: Any) -> None:
    mesh = subparsers.add_parser("mesh", help="landmarks measuring each other")
    sub = mesh.add_subparsers(dest="mesh_command", metavar="ACTION", required=True)
    run = sub.add_parser("probe", help="as landmark ID, probe every other landmark on a schedule")
    run.add_argument("--id", required=True, help="this landmark's id in the directory")
    run.add_argument("--key", required=True, help="this landmark's private key")
    run.add_argument("--landmarks", required=True, help="DIR.csv of every landmark")
    run.add_argument("--rounds", type=int, default=1, help="0 = keep going until interrupted")
    run.add_argument("--keep-rounds", type=int, default=24, help="the output holds the last N rounds")
    run.add_argument("--every-s", type=_positive, default=60.0, help="seconds between rounds (default 60)")
    run.add_argument("--samples", type=int, default=10, help="challenges per landmark (default 10)")
    run.add_argument(
        "--timeout-ms", type=_positive, default=1000.0, help="wait for an answer this long, ms (default 1000)"
    )
    run.add_argument("--out", required=True, help="mesh records (JSON lines)")
    run.set_defaults(handler=_mesh_probe)
    build = sub.add_parser("build", help="verify mesh records and write the engine's a,b,rtt_ms file")
    build.add_argument("records", nargs="+", help="mesh records files (JSON lines)")
    build.add_argument("--landmarks", required=True, help="DIR.csv with the landmarks' public keys")
    build.add_argument("--out", required=True, help="mesh CSV to write (a,b,rtt_ms)")
    build.add_argument(
        "--time-scale", type=_positive, default=1.0, help="divide RTTs by this (only for emulated delays)"
    )
    build.set_defaults(handler=_mesh_build)


def _register_netem(subparsers: Any) -> None:
    netem = subparsers.add_parser("netem", help="delaying UDP relays that make landmarks look far away")
    netem.add_argument("--landmarks", required=True, help="the real DIR.csv")
    netem.add_argument("--lat", type=float, required=True, help="where the emulated device is")
    netem.add_argument("--lon", type=float, required=True, help="longitude of the emulated device")
    netem.add_argument("--out", required=True, help="DIR.csv pointing at the relays, for the prober")
    netem.add_argument(
        "--inflation", type=float, default=1.5, help="path length over the great circle (default 1.5)"
    )
    netem.add_argument("--base-ms", type=float, default=0.0, help="fixed delay added each way, ms")
    netem.add_argument("--jitter-ms", type=float, default=0.0, help="random extra delay up to this, ms")
    netem.add_argument(
        "--time-scale", type=_positive, default=1.0, help="multiply every delay by this (default 1)"
    )
    netem.add_argument("--duration-s", type=_positive, default=None, help="stop after this long, seconds")
    netem.set_defaults(handler=_netem)


# -- handlers -------------------------------------------------------------------------
def _keys_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fleetproof.errors import ConfigError
    from fleetproof.probe.keys import generate_key, save_private_key

    if Path(args.out).exists() and not args.force:
        raise ConfigError(f"{args.out} exists; pass --force to replace it")
    pub = save_private_key(generate_key(), args.out)
    print(f"wrote {args.out} (private, mode 600) and {pub}")
    return 0


def _keys_public(args: argparse.Namespace) -> int:
    from fleetproof.probe.keys import load_private_key, public_key_b64

    print(public_key_b64(load_private_key(args.key)))
    return 0


def _keys_attest(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from fleetproof.errors import ConfigError, UnavailableError
    from fleetproof.probe.attest import AttestationError, get_attestor
    from fleetproof.probe.keys import load_private_key, public_key_b64, public_key_bytes, write_atomic

    try:
        challenge = bytes.fromhex(args.challenge)
        attestor = get_attestor(args.attestor)()
    except ValueError:
        raise ConfigError("--challenge must be hexadecimal") from None
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    key = load_private_key(args.key)
    if not attestor.available():
        raise UnavailableError(f"attestor {args.attestor!r} cannot run on this host")
    try:
        evidence = attestor.attest(public_key_bytes(key), challenge)
    except AttestationError as exc:
        raise UnavailableError(f"attestation failed: {exc}") from None
    document = {
        "public_key": public_key_b64(key),
        "challenge": args.challenge,
        **dataclasses.asdict(evidence),
    }
    text = json.dumps(document, indent=2) + "\n"
    if args.out:
        write_atomic(args.out, text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    return 0


def _landmark_statement(args: argparse.Namespace) -> int:
    import time

    from pydantic import ValidationError

    from fleetproof.errors import ConfigError, first_error_parts
    from fleetproof.probe.keys import load_private_key
    from fleetproof.probe.statement import sign_statement, write_statement

    key = load_private_key(args.key)
    try:
        statement = sign_statement(
            key,
            landmark_id=args.id,
            lat=args.lat,
            lon=args.lon,
            time=time.time() if args.time is None else args.time,
        )
    except ValidationError as exc:
        where, message = first_error_parts(exc)
        field = where[0] if where else "statement"
        raise ConfigError(f"--{'id' if field == 'landmark_id' else field}: {message}") from None
    if args.out:
        write_statement(args.out, statement)
        print(f"wrote the position statement of {args.id} to {args.out}", file=sys.stderr)
    else:
        print(statement.model_dump_json(indent=1))
    return 0


def _landmark_serve(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    from fleetproof.errors import ConfigError
    from fleetproof.probe.keys import load_private_key, public_key_b64
    from fleetproof.probe.landmark import LandmarkConfig, LandmarkServer
    from fleetproof.probe.statement import sign_statement

    if not (-90 <= args.lat <= 90 and -180 <= args.lon <= 180):
        raise ConfigError("--lat must be in -90..90 and --lon in -180..180")
    key = load_private_key(args.key)
    config = LandmarkConfig(args.id, nonce_timeout_s=args.nonce_timeout_ms / 1000)
    server = LandmarkServer(key, config, host=args.listen[0], port=args.listen[1])
    host, port = server.address
    host = f"[{host}]" if ":" in host else host
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"landmark {args.id} listening on {host}:{port}", flush=True)
    print(f"directory line: {args.id},{args.lat},{args.lon},{host}:{port},{public_key_b64(key)}", flush=True)
    statement = sign_statement(key, landmark_id=args.id, lat=args.lat, lon=args.lon, time=time.time())
    print(f"position statement: {statement.model_dump_json()}", flush=True)
    try:
        waited = 0.0
        step = args.stats_every_s or 0.5
        while not stop.wait(step):
            waited += step
            if args.stats_every_s:
                print(_format_counters(server.counters.as_dict()), file=sys.stderr, flush=True)
            if args.duration_s is not None and waited >= args.duration_s:
                break
    finally:
        server.stop()
    print(_format_counters(server.counters.as_dict()), file=sys.stderr, flush=True)
    return 0


def _format_counters(counters: dict[str, int]) -> str:
    return "counters: " + " ".join(f"{k}={v}" for k, v in counters.items())


def _probe(args: argparse.Namespace) -> int:
    from fleetproof.errors import ConfigError, UnavailableError
    from fleetproof.probe.keys import load_private_key
    from fleetproof.probe.prober import Prober, UdpTransport
    from fleetproof.probe.records import load_landmark_directory, write_records

    directory = load_landmark_directory(args.landmarks)
    key = load_private_key(args.key)
    try:
        prober = Prober(
            key,
            args.device_id,
            UdpTransport(),
            samples=args.samples,
            timeout_s=args.timeout_ms / 1000,
            retries=args.retries,
            jitter_s=max(args.jitter_ms, 0.0) / 1000,
            concurrency=max(args.concurrency, 1),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    result = prober.probe(directory.values())
    for gone in result.unreachable:
        print(f"unreachable: {gone.landmark_id}: {gone.reason}", file=sys.stderr)
    if not result.records:
        raise UnavailableError(f"no landmark of {len(directory)} could be measured")
    write_records(args.out, result.records)
    for record in result.records:
        print(f"{record.landmark_id}: rtt_ms={record.rtt_ms:.3f} ({len(record.samples_ms)} samples)")
    print(f"wrote {len(result.records)} records to {args.out}; {len(result.unreachable)} unreachable")
    return 0


def _check_records(paths: list[str], landmarks: str) -> tuple[list[Any], list[str]]:
    from fleetproof.probe.records import RecordError, load_landmark_directory, read_records, verify_record
    from fleetproof.probe.wire import printable

    directory = load_landmark_directory(landmarks)
    good: list[Any] = []
    failures: list[str] = []
    # A record's device id is what the device said; only its key is vouched for. One id under
    # two keys means some host measured under another's name, which would lower that name's RTTs.
    device_keys: dict[str, str] = {}
    for path in paths:
        for n, record in enumerate(read_records(path), start=1):
            where = f"{path}, record {n} ({printable(record.device_id)} → {printable(record.landmark_id)})"
            entry = directory.get(record.landmark_id)
            if entry is None:
                failures.append(f"{where}: signed by unknown landmark {record.landmark_id!r}")
                continue
            try:
                verify_record(record, entry.public_key)
            except RecordError as exc:
                failures.append(f"{where}: {exc}")
                continue
            if device_keys.setdefault(record.device_id, record.device_public_key) != record.device_public_key:
                failures.append(f"{where}: measured under another device key than earlier records of this id")
                continue
            good.append(record)
    return good, failures


def _records_verify(args: argparse.Namespace) -> int:
    from fleetproof.errors import VerificationFailed

    good, failures = _check_records([args.records], args.landmarks)
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"{len(good)} records verified, {len(failures)} failed")
    if failures:
        raise VerificationFailed(
            f"{len(failures)} of {len(good) + len(failures)} records failed verification"
        )
    return 0


def _records_to_rtts(args: argparse.Namespace) -> int:
    import csv
    import io

    from fleetproof.errors import VerificationFailed
    from fleetproof.probe.keys import write_atomic
    from fleetproof.probe.records import load_landmark_directory, min_rtts

    good, failures = _check_records(args.records, args.landmarks)
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    if failures:
        raise VerificationFailed(f"{len(failures)} records failed verification; nothing written")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["target", "landmark", "rtt_ms"])
    rtts = min_rtts(good)
    for (target, landmark), rtt in sorted(rtts.items()):
        writer.writerow([target, landmark, f"{rtt / args.time_scale:.6f}"])
    write_atomic(args.out, out.getvalue().encode("utf-8"))
    if args.landmarks_out:
        lm = io.StringIO()
        lw = csv.writer(lm, lineterminator="\n")
        lw.writerow(["id", "lat", "lon"])
        for entry in load_landmark_directory(args.landmarks).values():
            lw.writerow([entry.id, entry.lat, entry.lon])
        write_atomic(args.landmarks_out, lm.getvalue().encode("utf-8"))
    print(f"wrote {len(rtts)} target-landmark RTTs from {len(good)} verified records to {args.out}")
    return 0


def _mesh_probe(args: argparse.Namespace) -> int:
    from collections import deque

    from fleetproof.errors import ConfigError, UnavailableError
    from fleetproof.probe.keys import load_private_key
    from fleetproof.probe.mesh import mesh_rounds
    from fleetproof.probe.prober import UdpTransport
    from fleetproof.probe.records import MeasurementRecord, load_landmark_directory, write_records

    directory = load_landmark_directory(args.landmarks)
    key = load_private_key(args.key)
    kept: deque[list[MeasurementRecord]] = deque(maxlen=max(args.keep_rounds, 1))
    try:
        rounds = mesh_rounds(
            args.id,
            key,
            directory,
            UdpTransport(),
            rounds=args.rounds if args.rounds > 0 else None,
            every_s=args.every_s,
            samples=args.samples,
            timeout_s=args.timeout_ms / 1000,
        )
        for number, result in enumerate(rounds, start=1):
            missing = ", ".join(u.landmark_id for u in result.unreachable) or "none"
            print(f"round {number}: {len(result.records)} measured, unreachable: {missing}", file=sys.stderr)
            kept.append(result.records)
            if any(kept):  # rewrite after every round, so a running schedule always leaves a current file
                write_records(args.out, [r for records in kept for r in records])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    total = sum(len(records) for records in kept)
    if not total:
        raise UnavailableError("no other landmark could be measured")
    print(f"wrote {total} mesh records to {args.out}")
    return 0


def _mesh_build(args: argparse.Namespace) -> int:
    from fleetproof.errors import VerificationFailed
    from fleetproof.probe.mesh import build_mesh, write_mesh_csv
    from fleetproof.probe.records import load_landmark_directory, read_records

    directory = load_landmark_directory(args.landmarks)
    records = [r for path in args.records for r in read_records(path)]
    mesh, problems = build_mesh(records, directory)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if problems:
        raise VerificationFailed(f"{len(problems)} mesh records failed; nothing written")
    write_mesh_csv(args.out, {pair: rtt / args.time_scale for pair, rtt in mesh.items()})
    print(f"wrote {len(mesh)} landmark pairs to {args.out}")
    return 0


def _netem(args: argparse.Namespace) -> int:
    import signal
    import threading

    from fleetproof.probe.netem import DelayModel, RelayNetwork
    from fleetproof.probe.records import load_landmark_directory, write_landmark_directory

    directory = load_landmark_directory(args.landmarks)
    model = DelayModel(
        inflation=args.inflation, base_ms=args.base_ms, jitter_ms=args.jitter_ms, time_scale=args.time_scale
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with RelayNetwork(model) as network:
        relayed = network.relay_directory(directory.values(), args.lat, args.lon)
        write_landmark_directory(args.out, relayed)
        print(f"{len(relayed)} relays up for a device at ({args.lat}, {args.lon}); directory in {args.out}")
        stop.wait(args.duration_s)
    return 0
