#!/bin/sh
# End-to-end latency benchmark: planectl endpoint add on one planed host ->
# FDB + neighbour entry in the remote host's kernel, against FRR 8.4 doing
# the same in the same run. Needs root, iproute2, FRR (/usr/lib/frr).
#   test/bench/e2e/run.sh            # 1,000 endpoints
#   PLANE_BENCH_N=200 test/bench/e2e/run.sh
set -eu
cd "$(dirname "$0")/../../.."
exec cargo test --release -p plane --test e2e -- --ignored --nocapture bench_endpoint_to_remote_kernel
