#!/usr/bin/env bash
# Reproduces every experiment of the article (configs/article/*.toml) and regenerates
# FINDINGS.md from the results. One command:   scripts/article.sh
# Options (environment): INITGRID=path/to/initgrid (default: cargo build --release),
# RESULTS=dir (default results), OUT=FINDINGS.md, THREADS=N.
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-results}
OUT=${OUT:-FINDINGS.md}
if [ -z "${INITGRID:-}" ]; then
  cargo build --release --quiet
  INITGRID=target/release/initgrid
fi
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
for cfg in configs/article/*.toml; do
  name=$(sed -n 's/^name *= *"\(.*\)".*/\1/p' "$cfg")
  echo "== $cfg -> $RESULTS/$name"
  "$INITGRID" --config "$cfg" --out "$RESULTS/$name" "${threads[@]}"
done
"$INITGRID" findings --results "$RESULTS" --out "$OUT" --readme README.md
