#!/usr/bin/env bash
# Times the peer on slt's bench workloads (configs/bench/*.toml, read by both sides), one process
# each, single thread (THREADS to change). Usage: scripts/peer/run.sh OUTDIR
#   -> OUTDIR/<workload>.json with steps_per_s, wall_s and the estimate; then
#      slt bench --peer OUTDIR   (the ratio, measured in the same sitting).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=${PEER_VENV:-$root/.peer-venv}/bin/python
out=${1:-peer-results}; mkdir -p "$out"
T=${THREADS:-1}
draws() { case "$1" in mlp-wide) echo 200 ;; *) echo 1000 ;; esac; }
for w in tms mlp-small mlp-wide; do
  $PY "$here/speed.py" --config "$root/configs/bench/$w.toml" --draws "$(draws "$w")" \
    --threads "$T" --out "$out/$w.json" >/dev/null
done
for f in "$out"/*.json; do
  $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[1], d['params'], 'params', round(d['steps_per_s'],1), 'steps/s')" "$f"
done
