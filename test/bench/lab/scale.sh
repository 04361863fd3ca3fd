#!/usr/bin/env bash
# Lab scale bench: time from `planelab up` to all-reachable for
# topologies/scale.toml (4 hosts x 100 containers, 2 VNIs), with planed, and
# the same lab with FRR VTEPs (zebra + bgpd) as the reference, in the same run.
#
#   sudo test/bench/lab/scale.sh [REPS]        (default 3 repetitions each)
#
# "all-reachable" = the first `planelab check` whose every probe passed (the
# sampled pairs of the topology: every container pings one container per VNI
# and host); BUM, BGP and kernel-vs-RIB are reported with it. Time runs from
# the start of `up` to the end of that check. Builds with --release.
# Prints one TSV line per run and a Markdown summary (medians).
set -euo pipefail
cd "$(dirname "$0")/../../.."
reps="${1:-3}"
[ "$(id -u)" = 0 ] || { echo "scale.sh: needs root" >&2; exit 1; }

if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
	sudo -u "$SUDO_USER" -H bash -lc "cd '$PWD' && cargo build --release --quiet -p plane --bins"
else
	cargo build --release --quiet -p plane --bins
fi
lab=target/release/planelab
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp topologies/scale.toml "$work/scale.toml"
sed -e 's/^name = "scale"/name = "scale-frr"/' -e 's/^vnis = \[10, 20\]/vnis = [10, 20]\nkind = "frr-vtep"/' \
	-e 's/192.168.105.1/192.168.106.1/' topologies/scale.toml >"$work/scale-frr.toml"

now() { date +%s.%N; }
results="$work/results.tsv"
printf 'impl\trep\tup_s\tfirst_pass_s\tchecks\tprobes\tbum\tload1\n' | tee "$results"
for rep in $(seq 1 "$reps"); do
	for impl in planed frr; do
		topo="$work/scale.toml"
		[ "$impl" = frr ] && topo="$work/scale-frr.toml"
		"$lab" down "$topo" >/dev/null 2>&1 || true
		t0=$(now)
		"$lab" up "$topo" --timeout 300 2>"$work/up.log" || { cat "$work/up.log" >&2; exit 1; }
		t1=$(now)
		checks=0
		while :; do
			checks=$((checks + 1))
			if "$lab" check --json "$topo" >"$work/check.json"; then break; fi
			if [ "$checks" -ge 30 ]; then
				echo "scale.sh: $impl never passed; last report in $work/check.json" >&2
				exit 1
			fi
		done
		t2=$(now)
		probes=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r["probes"]))' "$work/check.json")
		bum=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(c["counts"]["bum"] for c in r["captures"]))' "$work/check.json")
		load=$(cut -d' ' -f1 /proc/loadavg)
		printf '%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\t%s\n' "$impl" "$rep" "$(echo "$t1 - $t0" | bc)" \
			"$(echo "$t2 - $t0" | bc)" "$checks" "$probes" "$bum" "$load" | tee -a "$results"
		"$lab" down "$topo" >/dev/null
	done
done

python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(impl, key):
    return statistics.median(float(r[key]) for r in rows if r["impl"] == impl)
print()
print("| lab (4 hosts x 100 containers) | up (s) | up -> all reachable (s) |")
print("|---|---:|---:|")
for impl, label in (("planed", "planed"), ("frr", "FRR 8.4 VTEPs (reference)")):
    print(f"| {label} | {med(impl, 'up_s'):.1f} | {med(impl, 'first_pass_s'):.1f} |")
print(f"| ratio planed / FRR | {med('planed','up_s')/med('frr','up_s'):.2f} | {med('planed','first_pass_s')/med('frr','first_pass_s'):.2f} |")
PY
