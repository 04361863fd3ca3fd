#!/usr/bin/env bash
# The plane demo in one command: builds plane, brings up the goplane-demo lab
# (3 hosts, 6 containers, two tenants with the same MACs and IPs) in network
# namespaces, runs the check (reachability, isolation, BUM = 0 on the
# underlay, BGP sessions, kernel vs RIB), prints the table and draws the lab.
#
#   sudo ./topologies/demo.sh            build, up, check, leave it up
#   sudo ./topologies/demo.sh --down     ... and tear it down afterwards
#   sudo ./topologies/demo.sh TOPOLOGY   another topology (e.g. topologies/mixed-frr.toml)
#
# Needs: Rust (cargo), iproute2, tcpdump, iputils-ping; graphviz for the
# picture; frr for mixed-frr and route-reflector, gobgpd for route-reflector-gobgp.
# Exit code: 0 when the check passed.
set -euo pipefail
cd "$(dirname "$0")/.."

down=0
topology=topologies/goplane-demo.toml
for arg in "$@"; do
	case "$arg" in
	--down) down=1 ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) topology="$arg" ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: needs root (network namespaces): sudo $0 $*" >&2
	exit 1
fi
for prog in ip tcpdump ping; do
	command -v "$prog" >/dev/null || { echo "demo.sh: $prog not found (apt install iproute2 tcpdump iputils-ping)" >&2; exit 1; }
done

# Build as the invoking user when run through sudo, so that target/ stays theirs.
echo "== building plane (cargo build --bins)"
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
	sudo -u "$SUDO_USER" -H bash -lc "cd '$PWD' && cargo build --quiet -p plane --bins"
else
	cargo build --quiet -p plane --bins
fi
lab=target/debug/planelab

echo "== planelab up $topology"
"$lab" up "$topology"
echo "== planelab check $topology"
status=0
"$lab" check "$topology" --svg target/planelab-demo.svg || status=$?

if [ "$down" = 1 ]; then
	echo "== planelab down $topology"
	"$lab" down "$topology"
else
	echo
	echo "The lab is still up. Look around:"
	echo "  $lab status $topology"
	echo "  ip netns list | grep plab.                  # hosts (plab.LAB.h.*), containers (plab.LAB.c.*)"
	echo "  ip netns exec plab.demo.c.a1 ping 10.0.0.2  # a1 (VNI 10) -> a2"
	echo "  target/debug/planectl --socket /run/planelab/demo/hosts/h1/planed.sock show routes"
	echo "  picture: target/planelab-demo.svg"
	echo "Remove it: $lab down $topology"
fi
exit "$status"
