#!/usr/bin/env bash
# Speed against the Python peer, in one sitting: devinterp 1.3.2 (../shared/peer) and `slt bench` on
# the same standard workloads (toy model, small MLP, wide MLP). Writes results/bench/peer/*.json,
# results/bench/bench.csv and one run folder per row. Usage: results/bench/run.sh [PEER_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
peer_src="${1:-$root/../shared/peer}"
cd "$root"
[ -x "${PEER_VENV:-$HOME/.peer-venv}/bin/python" ] || bash "$peer_src/setup.sh"
bash "$peer_src/run.sh" results/bench/peer
cargo run --release -- bench --peer results/bench/peer --out results/bench
