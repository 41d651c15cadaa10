"""deploy/container/Containerfile, built for real with podman and smoke-tested.

Base images cannot be pulled here, so the test makes its own: a Debian bookworm root
filesystem from Debian's packages (``debootstrap --variant=minbase`` with python3 and
python3-venv), imported into podman. The root filesystem is cached between runs in
``$FLEETPROOF_TEST_ROOTFS_CACHE`` (default ``/var/tmp/fleetproof-test-rootfs``); building it
takes a few minutes once. The wheel and its plain dependencies go into the build context as a
wheelhouse, so the build itself needs no index. The image is then run with podman; where no
container runtime works (a sandbox that refuses the runtime's rlimits, say) the test runs the
image's entrypoint in a chroot into the image's file system instead, as the image's user, with
its environment and working directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.deploy.conftest import DEPLOY, ROOT, require, require_tool

BASE_TAG = "localhost/fleetproof-test-base:bookworm"
MIRROR = os.environ.get("FLEETPROOF_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("FLEETPROOF_TEST_ROOTFS_CACHE", "/var/tmp/fleetproof-test-rootfs"))

pytestmark = pytest.mark.slow


def _run(cmd: list[str], timeout: float = 900, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]


def _rootfs() -> Path:
    """A cached Debian bookworm minbase with python3 and venv (built once with debootstrap)."""
    rootfs = CACHE / "bookworm"
    if (rootfs / "usr" / "bin" / "python3").exists():
        return rootfs
    debootstrap = require_tool("debootstrap", "apt-get install debootstrap")
    require(os.geteuid() == 0, "debootstrap needs root")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = CACHE / f"bookworm.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    res = _run(
        [
            debootstrap,
            "--variant=minbase",
            "--include=python3,python3-venv",
            "bookworm",
            str(partial),
            MIRROR,
        ],
        timeout=1500,
    )
    if res.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        require(False, f"debootstrap failed (no Debian mirror?): {res.stdout[-400:]}{res.stderr[-400:]}")
    partial.rename(rootfs)  # whole or not at all: a half-built root is never taken for the cache
    return rootfs


def _podman() -> str:
    podman = require_tool("podman", "apt-get install podman")
    info = _run([podman, "info", "--format", "{{.Store.GraphDriverName}}"], timeout=120)
    require(info.returncode == 0, f"podman cannot run here: {info.stderr[-300:]}")
    return podman


def _base_image(podman: str) -> str:
    if _run([podman, "image", "exists", BASE_TAG]).returncode != 0:
        rootfs = _rootfs()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [podman, "import", "-", BASE_TAG], stdin=tar.stdout, capture_output=True, text=True, timeout=600
        )
        tar.wait()
        assert imported.returncode == 0, imported.stderr
    return BASE_TAG


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[tuple[str, str]]:
    podman = _podman()
    base = _base_image(podman)
    ctx = tmp_path_factory.mktemp("context")
    dist = ctx / "dist"
    dist.mkdir()
    shutil.copy(wheel, dist)
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    got = _run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "-d", str(dist), *deps]
    )
    require(got.returncode == 0, f"cannot fetch the plain dependencies as wheels: {got.stderr[-400:]}")
    tag = f"localhost/fleetproof-test:{uuid.uuid4().hex[:12]}"
    dangling = [podman, "images", "-q", "--no-trunc", "--filter", "dangling=true"]
    before = set(_run(dangling).stdout.split())
    built = _run(
        [
            podman,
            "build",
            "--isolation",
            "chroot",
            "-f",
            str(DEPLOY / "container" / "Containerfile"),
            "--build-arg",
            f"BASE={base}",
            "--build-arg",
            "EXTRAS=",
            "--build-arg",
            "PIP_OPTIONS=--no-index --find-links /src/dist",
            "-t",
            tag,
            str(ctx),
        ],
        timeout=1200,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    try:
        yield podman, tag
    finally:
        # The image and the build stage's image this build left behind; nobody else's.
        _run([podman, "rmi", "-f", tag, *(set(_run(dangling).stdout.split()) - before)], timeout=300)


def _config(podman: str, tag: str) -> dict:
    res = _run([podman, "image", "inspect", tag, "--format", "{{json .Config}}"])
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _in_image(podman: str, tag: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the image's entrypoint with ``args``: podman run, else a chroot into its file system."""
    res = _run([podman, "run", "--rm", "--network", "none", tag, *args], timeout=300)
    if res.returncode not in (125, 126, 127) or "OCI" not in res.stderr:
        return res
    unshare = require_tool("unshare", "apt-get install util-linux")
    config = _config(podman, tag)
    mount = _run([podman, "image", "mount", tag])
    assert mount.returncode == 0, mount.stderr
    root = mount.stdout.strip()
    try:
        env = ["/usr/bin/env", "-i", *config["Env"], "HOME=" + config["WorkingDir"]]
        line = " ".join(["cd", config["WorkingDir"], "&&", "exec", *config["Entrypoint"], *args])
        return _run(
            [
                unshare,
                "--mount",
                "--pid",
                "--fork",
                f"--mount-proc={root}/proc",
                "chroot",
                f"--userspec={config['User']}",
                root,
                *env,
                "/bin/sh",
                "-c",
                line,
            ],
            timeout=300,
        )
    finally:
        _run([podman, "image", "unmount", tag])


def test_image_is_non_root_with_fleetproof_as_entrypoint(image: tuple[str, str]) -> None:
    podman, tag = image
    config = _config(podman, tag)
    assert config["Entrypoint"] == ["/opt/fleetproof/bin/fleetproof"]
    assert config["User"] == "10001:10001"
    assert "FLEETPROOF_AGENT_STATE_DIR=/var/lib/fleetproof/agent" in config["Env"]


def test_image_runs_the_cli_and_the_agent(image: tuple[str, str]) -> None:
    podman, tag = image
    version = _in_image(podman, tag, ["--version"])
    assert version.returncode == 0 and version.stdout.startswith("fleetproof "), version.stderr
    scan = _in_image(podman, tag, ["agent", "scan", "--backend", "simulated", "--json"])
    assert scan.returncode in (0, 4, 5), scan.stderr
    doc = json.loads(scan.stdout)
    assert len(doc["inventory"]["accelerators"]) == 8
    # Built without the [server] extra: the server command says which extra it needs.
    server = _in_image(podman, tag, ["server", "--help"])
    assert server.returncode == 2 and "[server]" in server.stderr
