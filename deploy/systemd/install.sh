#!/bin/sh
# Install fleetproof into a virtual environment under /opt/fleetproof and its systemd units, so that
# the units' ExecStart=/opt/fleetproof/bin/fleetproof is true.
#
#   sudo deploy/systemd/install.sh --agent [--extras nvidia]     # a GPU host (default extra: nvidia)
#   sudo deploy/systemd/install.sh --server                      # the fleet server ([server] extra)
#   sudo deploy/systemd/install.sh --landmark                    # a landmark (plain install)
#
# Needs python3 (3.11+) with venv (Debian: apt-get install python3-venv). Environment:
#   FLEETPROOF_PACKAGE       what pip installs (default fleetproof-gpu; a wheel file or a version pin works)
#   FLEETPROOF_PIP_OPTIONS   extra pip options (e.g. --no-index --find-links /srv/wheels)
#   DESTDIR                  stage everything under this directory instead of / (for packaging and
#                            tests; the environment then only runs from that place)
# Run it again to upgrade: the environment is kept and the package reinstalled.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=/opt/fleetproof
destdir=${DESTDIR:-}
package=${FLEETPROOF_PACKAGE:-fleetproof-gpu}
pip_options=${FLEETPROOF_PIP_OPTIONS:-}
extras=""
units=""

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

[ $# -gt 0 ] || usage
while [ $# -gt 0 ]; do
    case "$1" in
        --agent) units="$units fleetproof-agent.service"; extras="${extras:-nvidia}" ;;
        --server) units="$units fleetproof-server.service"; extras="${extras:+$extras,}server" ;;
        --landmark) units="$units fleetproof-landmark.service" ;;
        --extras) shift; [ $# -gt 0 ] || usage; extras=$1 ;;
        -h|--help) usage ;;
        *) echo "install.sh: unknown option $1" >&2; usage ;;
    esac
    shift
done
[ -n "$units" ] || usage

spec=$package
if [ -n "$extras" ]; then
    spec="$package[$extras]"
fi

echo "installing $spec into $destdir$prefix"
python3 -m venv "$destdir$prefix"
# shellcheck disable=SC2086  # pip_options is a list of options
"$destdir$prefix/bin/python" -m pip install --quiet --disable-pip-version-check $pip_options --upgrade "$spec"
"$destdir$prefix/bin/fleetproof" --version

install -d -m 0755 "$destdir/etc/systemd/system" "$destdir/etc/fleetproof"
for unit in $units; do
    install -m 0644 "$here/$unit" "$destdir/etc/systemd/system/$unit"
    echo "installed /etc/systemd/system/$unit"
done
if [ -z "$destdir" ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    echo "now: systemctl enable --now$units"
fi
