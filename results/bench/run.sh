#!/usr/bin/env bash
# Speed against the Python peer, in one sitting: devinterp 1.3.2 (scripts/peer) and `slt bench` on
# the same workloads (configs/bench: toy model, small MLP, wide MLP). Writes results/bench/peer/*.json,
# results/bench/bench.csv and one run folder per row. Usage: results/bench/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
[ -x "${PEER_VENV:-$root/.peer-venv}/bin/python" ] || bash scripts/peer/setup.sh
bash scripts/peer/run.sh results/bench/peer
cargo run --release -- bench --peer results/bench/peer --out results/bench
