#!/usr/bin/env bash
# Site energy benchmark (issue 5): a one-year hourly simulation of many off-grid PV + fuel cell + battery
# sites, each a deterministic variation of crates/site/data/island-site.toml, on the TMY3 file pvlib
# ships (Greensboro, NC). Target: 100,000 sites in ≤ 10 s on this machine. No peer is named for it.
#   bash bench/site.sh                 # 100,000 sites, recorded in BENCHMARKS.md
#   SITES=10000 bash bench/site.sh     # a quick check
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${SITES:-100000}
if ! .venv-pvlib/bin/python -c "import pvlib" >/dev/null 2>&1; then
  python3 -m venv .venv-pvlib
  .venv-pvlib/bin/pip install --quiet "pvlib==0.16.1"
fi
TMY=$(.venv-pvlib/bin/python -c "import os, pvlib; print(os.path.join(os.path.dirname(pvlib.__file__), 'data', '723170TYA.CSV'))")
cargo build --release -p dualcarbon
for run in 1 2 3; do
  target/release/dualcarbon bench site --site crates/site/data/island-site.toml --weather "$TMY" --sites "$SITES"
done
