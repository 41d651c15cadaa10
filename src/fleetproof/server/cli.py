"""``fleetproof server`` (run the server, and operator actions on its store) and ``fleetproof audit``.

Shape::

    fleetproof server [--db URL] [--listen HOST:PORT] [--admin-token TOKEN] ...   run the server
    fleetproof server migrate                       apply schema migrations and exit
    fleetproof server zone add ID --country DE ... | zone list
    fleetproof server token create --zone ID [--ttl-s S]
    fleetproof server landmark add --id ID --lat --lon --address --public-key KEY|@FILE | landmark list
    fleetproof server devices | alerts [--open]
    fleetproof server report inventory|compliance [--zone ID] [--format csv|json] [--out FILE]
    fleetproof server evidence export --device ID [--since T] [--until T] --out FILE
    fleetproof audit verify [--db URL | --file EXPORT.jsonl] [--anchor FILE [--anchor-key PUB]]
    fleetproof audit export --out FILE

Operator actions work on the store directly (``--db``, default the SQLite file in
the data directory), so they need no running server; each is written to the audit log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register"]

SERVER_HELP = """\
Run the fleet server (no ACTION), or act on its store.

  fleetproof server [--db URL] [--listen HOST:PORT] [--admin-token TOKEN] ...   run the server
  fleetproof server migrate                       apply schema migrations and exit
  fleetproof server zone add ID --country DE ... | zone list
  fleetproof server token create --zone ID [--ttl-s S]
  fleetproof server landmark add --id ID --lat --lon --address --public-key KEY|@FILE | landmark list
  fleetproof server devices | alerts [--open]
  fleetproof server report inventory|compliance [--zone ID] [--format csv|json] [--out FILE]
  fleetproof server evidence export --device ID [--since T] [--until T] --out FILE

Actions work on the store directly (--db, default the SQLite file in the data directory), so
they need no running server; each is written to the audit log. See docs/operations.md.
"""


def _store_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--db",
        default=default,
        help="store URL: sqlite:///PATH or postgresql://… (default: fleetproof.db in the data directory)",
    )
    parser.add_argument("--data-dir", default=default, help="data directory of the default SQLite store")


def register(subparsers: Any) -> None:
    server = subparsers.add_parser(
        "server",
        help="run the fleet server, or act on its store",
        description=SERVER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _store_options(server, suppress=False)
    server.add_argument("--listen", default=None, help="HOST:PORT to bind (default 127.0.0.1:8470)")
    server.add_argument(
        "--admin-token",
        default=None,
        help="admin bearer token (or FLEETPROOF_ADMIN_TOKEN, or --admin-token-file)",
    )
    server.add_argument("--admin-token-file", default=None, help="file holding the admin token")
    server.add_argument("--webhook", action="append", default=None, help="alert webhook URL (repeatable)")
    server.add_argument(
        "--no-background",
        action="store_true",
        help="do not run background work (verdicts, webhooks, retention) in this process",
    )
    server.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log detail (default info)",
    )
    server.add_argument(
        "--log-format",
        default=None,
        choices=["text", "json"],
        help="log lines as plain text or one JSON object each (default text)",
    )
    server.set_defaults(handler=_run)
    actions = server.add_subparsers(dest="server_action", metavar="ACTION")
    _add_migrate_and_zone(actions)
    _add_token_and_landmark(actions)
    _add_listings_and_reports(actions)
    _add_audit(subparsers)


def _add_migrate_and_zone(actions: Any) -> None:
    mig = actions.add_parser("migrate", help="apply schema migrations and exit")
    _store_options(mig, suppress=True)
    mig.set_defaults(handler=_migrate)

    zone = actions.add_parser("zone", help="zones: a site and the countries its hosts may be in")
    zone_actions = zone.add_subparsers(dest="zone_action", metavar="ACTION", required=True)
    zadd = zone_actions.add_parser("add", help="create a zone (or --replace its policy)")
    _store_options(zadd, suppress=True)
    zadd.add_argument("id", help="zone id, e.g. eu-central")
    zadd.add_argument("--country", action="append", default=[], help="allowed ISO country code (repeatable)")
    zadd.add_argument("--site-name", help="name of the declared site")
    zadd.add_argument("--site-lat", type=float, help="latitude of the declared site, degrees")
    zadd.add_argument("--site-lon", type=float, help="longitude of the declared site, degrees")
    zadd.add_argument("--region-file", help="GeoJSON Polygon/MultiPolygon of the allowed region")
    zadd.add_argument("--description", default="", help="free text shown with the zone")
    zadd.add_argument("--replace", action="store_true", help="change an existing zone's policy")
    zadd.set_defaults(handler=_zone_add)
    zlist = zone_actions.add_parser("list", help="list zones")
    _store_options(zlist, suppress=True)
    zlist.set_defaults(handler=lambda a: _print(_admin_mod().list_zones(_db(a))))


def _add_token_and_landmark(actions: Any) -> None:
    token = actions.add_parser("token", help="one-time enrollment tokens")
    token_actions = token.add_subparsers(dest="token_action", metavar="ACTION", required=True)
    tcreate = token_actions.add_parser("create", help="make a one-time enrollment token for a zone")
    _store_options(tcreate, suppress=True)
    tcreate.add_argument("--zone", required=True, help="zone the enrolling host joins")
    tcreate.add_argument("--ttl-s", type=float, default=86400.0, help="lifetime, seconds (default a day)")
    tcreate.add_argument("--device-id", help="the id the enrolling device gets (default: made up)")
    tcreate.set_defaults(handler=_token_create)

    lm = actions.add_parser("landmark", help="landmarks: id, coordinates, address, public key")
    lm_actions = lm.add_subparsers(dest="landmark_action", metavar="ACTION", required=True)
    ladd = lm_actions.add_parser("add", help="register a landmark (or --replace it)")
    _store_options(ladd, suppress=True)
    ladd.add_argument("--id", required=True, help="landmark id, e.g. fra")
    ladd.add_argument("--address", required=True, help="HOST:PORT agents reach it at (UDP)")
    ladd.add_argument("--lat", type=float, required=True, help="latitude of the landmark, degrees")
    ladd.add_argument("--lon", type=float, required=True, help="longitude of the landmark, degrees")
    ladd.add_argument("--public-key", required=True, help="base64 key, or @FILE (a .pub file)")
    ladd.add_argument("--country", help="ISO country code of the landmark's place")
    ladd.add_argument("--statement", help="the landmark's signed position statement (`landmark statement`)")
    ladd.add_argument("--replace", action="store_true", help="change an existing landmark")
    ladd.set_defaults(handler=_landmark_add)
    llist = lm_actions.add_parser("list", help="list landmarks and whether they are trusted")
    _store_options(llist, suppress=True)
    llist.set_defaults(handler=lambda a: _print(_admin_mod().list_landmarks(_db(a))))


def _add_listings_and_reports(actions: Any) -> None:
    dev = actions.add_parser("devices", help="list hosts with verdict and health")
    _store_options(dev, suppress=True)
    dev.set_defaults(handler=_devices)
    al = actions.add_parser("alerts", help="list alerts")
    _store_options(al, suppress=True)
    al.add_argument("--open", action="store_true", help="only open alerts")
    al.set_defaults(handler=_alerts)

    rep = actions.add_parser("report", help="inventory or compliance per zone")
    _store_options(rep, suppress=True)
    rep.add_argument("kind", choices=["inventory", "compliance"], help="which report")
    rep.add_argument("--zone", help="only this zone (default: all)")
    rep.add_argument("--format", choices=["csv", "json"], default="csv", help="output format (default csv)")
    rep.add_argument("--out", help="file to write (default: standard output)")
    rep.set_defaults(handler=_report)

    ev = actions.add_parser("evidence", help="evidence bundles a third party can check offline")
    ev_actions = ev.add_subparsers(dest="evidence_action", metavar="ACTION", required=True)
    exp = ev_actions.add_parser("export", help="write everything a device's verdicts rest on to one file")
    _store_options(exp, suppress=True)
    exp.add_argument("--device", required=True, help="the device id")
    exp.add_argument("--since", type=_time_arg, help="first verdict time: Unix seconds or ISO 8601 (UTC)")
    exp.add_argument("--until", type=_time_arg, help="last verdict time: Unix seconds or ISO 8601 (UTC)")
    exp.add_argument(
        "--out", required=True, help="the bundle file (JSON); check it with `fleetproof evidence verify`"
    )
    exp.set_defaults(handler=_evidence_export)


def _time_arg(text: str) -> float:
    """Unix seconds, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    import math
    from datetime import UTC, datetime

    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not Unix seconds or an ISO 8601 time: {text!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite time: {text!r}")
    return value


def _add_audit(subparsers: Any) -> None:
    aud = subparsers.add_parser("audit", help="check or export the server's hash-chained audit log")
    aud_actions = aud.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    aver = aud_actions.add_parser("verify", help="check the chain; report the first broken link")
    _store_options(aver, suppress=False)
    aver.add_argument("--file", help="check an exported JSON-lines file instead of the store")
    aver.add_argument("--anchor", help="also check the store against the newest checkpoint in this file")
    aver.add_argument(
        "--anchor-key", help="public key the checkpoints are signed with (default: the server's .pub)"
    )
    aver.set_defaults(handler=_audit_verify)
    aexp = aud_actions.add_parser("export", help="write the log as JSON lines")
    _store_options(aexp, suppress=False)
    aexp.add_argument("--out", required=True, help="JSON-lines file to write")
    aexp.set_defaults(handler=_audit_export)


def _admin_mod() -> Any:
    from fleetproof.server import admin

    return admin


def _admin_input(model: str, **fields: Any) -> Any:
    """The admin module's input ``model`` (``ZoneIn``, ``LandmarkIn``) built from command-line values.

    Its validation errors are the user's: a :class:`ConfigError` worded by the shared formatter.
    """
    from pydantic import ValidationError

    from fleetproof.errors import ConfigError, first_error

    try:
        return getattr(_admin_mod(), model)(**fields)
    except ValidationError as exc:
        raise ConfigError(first_error(exc)) from None


def _settings(args: argparse.Namespace) -> Any:
    from fleetproof.server.config import ServerSettings

    return ServerSettings.from_env(db=getattr(args, "db", None), data_dir=getattr(args, "data_dir", None))


def _db(args: argparse.Namespace, *, migrate: bool = True) -> Any:
    from fleetproof.server.store.db import Database

    db = Database(_settings(args).database_url())
    if migrate:
        _migrate_db(db)
    return db


def _migrate_db(db: Any) -> str:
    from sqlalchemy.exc import OperationalError

    from fleetproof.errors import UnavailableError

    try:
        return str(db.migrate())
    except OperationalError as exc:
        raise UnavailableError(f"cannot reach the store: {str(exc.orig).strip().splitlines()[0]}") from None


def _print(obj: Any) -> int:
    print(json.dumps(obj, indent=1, sort_keys=True))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from fleetproof.server.store.db import Database

    head = _migrate_db(Database(_settings(args).database_url()))
    print(f"store is at revision {head}")
    return 0


def _zone_add(args: argparse.Namespace) -> int:
    from fleetproof.errors import InputError

    region = None
    if args.region_file:
        try:
            region = json.loads(Path(args.region_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(args.region_file, None, f"not a readable GeoJSON file: {exc}") from None
    zone = _admin_input(
        "ZoneIn",
        id=args.id,
        description=args.description,
        site_name=args.site_name,
        site_lat=args.site_lat,
        site_lon=args.site_lon,
        allowed_countries=args.country,
        allowed_region=region,
    )
    return _print(
        _admin_mod().create_zone(_db(args), zone, actor="admin:cli", now=time.time(), replace=args.replace)
    )


def _token_create(args: argparse.Namespace) -> int:
    return _print(
        _admin_mod().create_token(
            _db(args),
            args.zone,
            ttl_s=args.ttl_s,
            actor="admin:cli",
            now=time.time(),
            device_id=args.device_id,
        )
    )


def _landmark_add(args: argparse.Namespace) -> int:
    from fleetproof.errors import ConfigError

    key = args.public_key
    if key.startswith("@"):
        try:
            key = Path(key[1:]).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read public key file {key[1:]}: {exc}") from None
    statement = None
    if args.statement:
        from fleetproof.probe.statement import read_statement

        statement = read_statement(args.statement).model_dump(mode="json")
    lm = _admin_input(
        "LandmarkIn",
        id=args.id,
        lat=args.lat,
        lon=args.lon,
        address=args.address,
        public_key=key,
        country=args.country,
        statement=statement,
    )
    return _print(
        _admin_mod().add_landmark(_db(args), lm, actor="admin:cli", now=time.time(), replace=args.replace)
    )


def _devices(args: argparse.Namespace) -> int:
    from fleetproof.server.queries import list_devices

    with _db(args).read() as session:
        _total, items = list_devices(session)
    return _print(items)


def _alerts(args: argparse.Namespace) -> int:
    from fleetproof.server.alerts import list_alerts

    with _db(args).read() as session:
        _total, items = list_alerts(session, open_only=args.open, offset=0, limit=100_000)
    return _print(items)


def _report(args: argparse.Namespace) -> int:
    from fleetproof.server import reports

    rows = reports.build(_db(args), args.kind, zone=args.zone)
    text = reports.to_csv(rows, args.kind) if args.format == "csv" else reports.to_json(rows) + "\n"
    _write_or_print(text, args.out)
    return 0


def _evidence_export(args: argparse.Namespace) -> int:
    from fleetproof.server.evidence import export_bundle

    bundle = export_bundle(_db(args), args.device, since=args.since, until=args.until, now=time.time())
    _write_or_print(json.dumps(bundle, indent=1, sort_keys=True) + "\n", args.out)
    print(
        f"wrote {len(bundle['verdicts'])} verdicts, {len(bundle['records'])} records to {args.out}; "
        f"check with `fleetproof evidence verify {args.out}`",
        file=sys.stderr,
    )
    return 0


def _write_or_print(text: str, out: str | None) -> None:
    if not out:
        sys.stdout.write(text)
        return
    from fleetproof.probe.keys import write_atomic

    write_atomic(out, text.encode("utf-8"))


def _audit_verify(args: argparse.Namespace) -> int:
    from fleetproof.errors import InputError, VerificationFailed
    from fleetproof.server import audit

    if args.file:
        try:
            lines = Path(args.file).read_text(encoding="utf-8").splitlines()
            report = audit.check_entries(json.loads(line) for line in lines if line.strip())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(args.file, None, f"not an audit export: {exc}") from None
    elif args.anchor:
        return _audit_verify_anchor(args)
    else:
        report = audit.verify_chain(_db(args, migrate=False))
    if not report.ok:
        raise VerificationFailed(
            f"audit chain broken at entry {report.first_broken_seq} ({report.problem}); "
            f"{report.entries} entries before it are intact"
        )
    print(f"audit chain intact: {report.entries} entries")
    return 0


def _audit_verify_anchor(args: argparse.Namespace) -> int:
    from fleetproof.errors import InputError, VerificationFailed
    from fleetproof.probe.keys import load_public_key
    from fleetproof.server import anchor

    _path, key_path = anchor.anchor_paths(_settings(args))
    public = load_public_key(args.anchor_key or f"{key_path}.pub")
    try:
        checkpoints = anchor.read_checkpoints(Path(args.anchor), public)
    except OSError as exc:
        raise InputError(args.anchor, None, f"cannot read the anchor file: {exc.strerror}") from None
    except ValueError as exc:
        raise VerificationFailed(str(exc)) from None
    report = anchor.verify_against_anchor(_db(args, migrate=False), checkpoints)
    if not report.ok:
        raise VerificationFailed(report.message)
    print(report.message)
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    from fleetproof.server import audit

    count = audit.export(_db(args, migrate=False), Path(args.out))
    print(f"wrote {count} entries to {args.out}", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    from fleetproof.errors import ConfigError

    token = args.admin_token or os.environ.get("FLEETPROOF_ADMIN_TOKEN")
    if args.admin_token_file:
        try:
            token = Path(args.admin_token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --admin-token-file: {exc.strerror}") from None
    if not token:
        raise ConfigError(
            "an admin token is required (--admin-token, --admin-token-file or FLEETPROOF_ADMIN_TOKEN)"
        )
    if len(token) < 16:
        print(
            "fleetproof: warning: the admin token is shorter than 16 characters; anyone who can reach the "
            "server may guess it (`python -c 'import secrets; print(secrets.token_urlsafe(24))'` makes one)",
            file=sys.stderr,
        )
    from fleetproof.server.config import ServerSettings

    settings = ServerSettings.from_env(
        db=args.db,
        data_dir=args.data_dir,
        listen=args.listen,
        admin_token=token,
        webhooks=args.webhook,
        background=False if args.no_background else None,
        log_format=args.log_format,
    )
    from fleetproof.server.runner import serve

    return serve(settings, log_level=args.log_level)
