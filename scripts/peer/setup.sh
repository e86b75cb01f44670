#!/usr/bin/env bash
# Installs the Python peer, devinterp 1.3.2 (the last release with the model-agnostic
# estimate_learning_coeff_with_summary; it pulls PyTorch, several GB), into its own virtual
# environment inside the repository (.peer-venv, ignored by git; PEER_VENV to put it elsewhere).
# devinterp 2.x samples language models from Hugging Face datasets of token ids only: it cannot run
# these regression workloads as they are (see README.md here).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${PEER_VENV:-$root/.peer-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "devinterp==1.3.2"
"$VENV/bin/python" -c "import devinterp, torch; print('devinterp ok, torch', torch.__version__)"
