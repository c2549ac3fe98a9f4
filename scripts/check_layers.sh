#!/usr/bin/env bash
# Fails if a module imports a module above it in the layering of src/lib.rs:
#   commands > cli, exec > report > analysis > store > grid > config > params > text > core > error
# (a module may use anything at its own rank or below). Prints every upward import.
set -euo pipefail
cd "$(dirname "$0")/.."
rank() {
  case "$1" in
    commands) echo 10 ;; cli) echo 9 ;; exec) echo 8 ;; report) echo 7 ;; analysis) echo 6 ;;
    store) echo 5 ;; grid) echo 4 ;; config) echo 3 ;; params) echo 2 ;; text) echo 2 ;;
    core) echo 1 ;; error) echo 0 ;; *) echo -1 ;;
  esac
}
bad=0
while IFS= read -r f; do
  rel=${f#src/}
  mod=${rel%%/*}; mod=${mod%.rs}
  [ "$mod" = lib ] || [ "$mod" = main ] && continue
  r=$(rank "$mod")
  # every `crate::X` path mentioned in code (imports and qualified paths), comments excluded
  for used in $(grep -v '^\s*//' "$f" | grep -o 'crate::[a-z_]*' | sort -u | sed 's/crate:://'); do
    u=$(rank "$used")
    [ "$u" -lt 0 ] && continue
    if [ "$u" -gt "$r" ]; then
      echo "upward import: $f ($mod, rank $r) uses crate::$used (rank $u)"
      bad=1
    fi
  done
  # cli (declarations) must not be seen below commands
  if [ "$r" -lt 9 ] && grep -v '^\s*//' "$f" | grep -q 'clap::'; then
    echo "clap below commands: $f"; bad=1
  fi
done < <(find src -name '*.rs' | sort)
# commands never import each other
if grep -rn 'use super::\(run\|summary\|compare\|replay\|report\|merge\|findings\|bench\|verify\)\b' src/commands; then
  echo "a command imports another command"; bad=1
fi
[ $bad -eq 0 ] && echo "layers: every import points down"
exit $bad
