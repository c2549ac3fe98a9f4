#!/usr/bin/env bash
# Executes notebooks/explore.ipynb headlessly against a fresh results directory of
# configs/quick.toml and fails on any cell error. Also fails if the committed notebook carries
# outputs or execution counts (commit it stripped: see the end of this file for how).
#
#   scripts/check_notebook.sh [RESULTS_DIR]
#
# Without RESULTS_DIR it runs `$INITGRID --config configs/quick.toml` into a temporary directory
# (INITGRID defaults to target/debug/initgrid, which must be built) and `initgrid compare` on it,
# so the notebook's paired comparison is cross-checked. The venv is .ci/venv-nb, built from
# the pinned scripts/requirements-notebook.txt; the executed copy is written to
# $NB_OUT (default: a temporary file) for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
NB=notebooks/explore.ipynb
VENV=.ci/venv-nb
INITGRID=${INITGRID:-target/debug/initgrid}

# 1. Committed without outputs: no cell may have outputs or an execution count.
python3 - "$NB" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
dirty = [i for i, c in enumerate(nb["cells"])
         if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
if dirty:
    sys.exit(f"{sys.argv[1]}: cells {dirty} carry outputs or execution counts; commit the notebook "
             "stripped: jupyter nbconvert --clear-output --inplace " + sys.argv[1])
print(f"{sys.argv[1]}: {len(nb['cells'])} cells, no outputs committed")
PY

# 2. Pinned environment (reused when the requirements have not changed).
REQ=scripts/requirements-notebook.txt
if ! cmp -s "$REQ" "$VENV/.requirements" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/.requirements"
fi

# 3. A results directory.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ $# -ge 1 ]; then
  RESULTS=$(cd "$1" && pwd)
else
  RESULTS=$TMP/quick
  "$INITGRID" --config configs/quick.toml --out "$RESULTS" --quiet
  "$INITGRID" compare "$RESULTS" --factor init_order --format csv >/dev/null
fi

# 4. Execute every cell; nbconvert exits non-zero on the first cell that raises.
OUT=${NB_OUT:-$TMP/explore.executed.ipynb}
INITGRID_RESULTS=$RESULTS "$VENV/bin/jupyter" nbconvert --to notebook --execute \
  --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 \
  --output "$(basename "$OUT")" --output-dir "$(dirname "$OUT")" "$NB"
echo "notebook executed without errors against $RESULTS"
