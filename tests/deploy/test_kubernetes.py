"""The Kubernetes manifests, validated against the Kubernetes API schemas (bundled by
``kubernetes-validate``, so this works offline), and checked for what each workload must have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.conftest import DEPLOY, require

K8S = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"


def _docs() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                out.append((path, doc))
    return out


def _kind(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for _, d in _docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _validate(doc: dict[str, Any]) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        require(False, "kubernetes-validate is not installed (pip install -e '.[dev]')")
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("index", range(len(_docs())))
def test_manifest_matches_the_kubernetes_schema(index: int) -> None:
    _path, doc = _docs()[index]
    _validate(doc)  # raises ValidationError naming the field


def test_the_validator_refuses_a_broken_manifest() -> None:
    import copy

    try:
        import kubernetes_validate
    except ImportError:
        require(False, "kubernetes-validate is not installed")
    bad = copy.deepcopy(_kind("DaemonSet", "fleetproof-agent"))
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "metrics"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    bad = copy.deepcopy(_kind("Deployment", "fleetproof-server"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    (c,) = doc["spec"]["template"]["spec"]["containers"]
    return c


def test_agent_daemonset() -> None:
    ds = _kind("DaemonSet", "fleetproof-agent")
    pod = ds["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia"
    c = _container(ds)
    env = {e["name"]: e for e in c["env"]}
    assert env["FLEETPROOF_AGENT_HOSTNAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    state = env["FLEETPROOF_AGENT_STATE_DIR"]["value"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["state"] == state and volumes["state"]["hostPath"]["path"] == state
    assert c["args"] == ["agent", "run"]
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYSLOG"]}


def test_server_deployment_and_service() -> None:
    dep = _kind("Deployment", "fleetproof-server")
    c = _container(dep)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in c["env"]}
    for name in ("FLEETPROOF_DB", "FLEETPROOF_ADMIN_TOKEN"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "fleetproof-server"
    svc = _kind("Service", "fleetproof-server")
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_landmark_serves_udp() -> None:
    dep = _kind("Deployment", "fleetproof-landmark-fra")
    c = _container(dep)
    assert c["ports"][0]["protocol"] == "UDP"
    svc = _kind("Service", "fleetproof-landmark-fra")
    assert [p["protocol"] for p in svc["spec"]["ports"]] == ["UDP"]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_commands_in_manifests_parse() -> None:
    """Every container's args are a command line the `fleetproof` entrypoint accepts."""
    from fleetproof.cli import build_parser

    parser = build_parser()
    for _, doc in _docs():
        if doc["kind"] in ("Deployment", "DaemonSet"):
            parser.parse_args(_container(doc)["args"])
