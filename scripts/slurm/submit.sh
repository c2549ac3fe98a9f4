#!/bin/bash
# Run an initgrid grid on a Slurm cluster: N array tasks (one shard each), then one merge job
# that starts only if every shard succeeded.
#
#   scripts/slurm/submit.sh CONFIG OUT [N] [SBATCH_OPTION...]
#
#   CONFIG  grid config (TOML)
#   OUT     results directory on a filesystem that every node sees; when the merge job has
#           finished it holds runs.parquet, cells.parquet, effects.parquet, manifest.json and
#           report.html, as a single-machine run would. Slurm logs go to OUT/slurm-logs/.
#   N       number of shards = array tasks (default 4). Shard K owns the grid's chunk windows
#           w with w mod N = K (a window is 16 × 32 seeds of consecutive cells), so N above the
#           window count (`initgrid --config CONFIG --dry-run` prints it) leaves tasks idle.
#   SBATCH_OPTION...  passed to both sbatch calls, e.g. --partition=cpu --account=myproj
#           --time=02:00:00 --cpus-per-task=8 (each task trains on its CPUs with --threads).
#
# Environment: INITGRID = the initgrid binary (default: initgrid on PATH, else
# target/release/initgrid). Build it once where the compute nodes can run it, e.g.
#   cargo build --release && scripts/slurm/submit.sh configs/quick.toml results/quick 4 --time=10
#
# Prints the two job ids. Follow them with `squeue -j ARRAY,MERGE`; afterwards
# `scontrol show job MERGE` (JobState=COMPLETED) and `initgrid summary OUT`.
# The merge is submitted with --dependency=afterok:ARRAY --kill-on-invalid-dep=yes, so if a
# shard fails the merge is cancelled instead of pending forever. Then just run the same command
# again: finished chunks are kept, so the shards that are done exit at once and the failed ones
# resume where they stopped.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }
[[ $# -ge 2 && $1 != -h && $1 != --help ]] || usage
config=$1 out=$2
shift 2
n=4
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then n=$1; shift; fi
(( n >= 1 )) || { echo "submit.sh: N must be at least 1" >&2; exit 2; }
[[ -f $config ]] || { echo "submit.sh: no config file $config" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config=$(realpath "$config")
out=$(realpath -m "$out")
initgrid=${INITGRID:-$(command -v initgrid || echo target/release/initgrid)}
if [[ $initgrid == */* ]]; then initgrid=$(realpath -m "$initgrid"); fi

# Catch a broken config or a stale OUT here rather than after a wait in the queue.
if [[ -x $initgrid ]]; then
    plan=$("$initgrid" --config "$config" --dry-run) || {
        echo "submit.sh: $initgrid --config $config --dry-run failed" >&2; exit 2; }
    plan=${plan%%$'\n'*}   # "NAME: C cells × S seeds = R runs (W chunk windows)"
    echo "$plan"
    windows=$(sed -n 's/.*(\([0-9]*\) chunk windows).*/\1/p' <<<"$plan")
    if [[ -n $windows ]] && (( n > windows )); then
        echo "submit.sh: note: $windows chunk window(s) for $n shards: $((n - windows)) task(s) will have nothing to do" >&2
    fi
else
    echo "submit.sh: warning: $initgrid is not executable here; the jobs will look for it on the nodes" >&2
fi
for f in "$out"/state-shard-*-of-*.json; do
    [[ -e $f ]] || continue
    if [[ $f != *-of-$n.json ]]; then
        echo "submit.sh: $out already holds shards of another split ($(basename "$f")): use N as before, or another OUT" >&2
        exit 2
    fi
done

mkdir -p "$out/slurm-logs"
export CONFIG=$config OUT=$out INITGRID=$initgrid SHARDS=$n
array=$(sbatch --parsable --export=ALL --array="0-$((n - 1))" --output="$out/slurm-logs/shard-%A_%a.out" \
        "$@" "$here/initgrid-array.sbatch")
array=${array%%;*}   # --parsable prints "id" or "id;cluster"
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$array" --kill-on-invalid-dep=yes \
        --output="$out/slurm-logs/merge-%j.out" "$@" "$here/merge.sbatch")
merge=${merge%%;*}

echo "array job $array: $n shards of $config"
echo "merge job $merge: after every shard succeeds (afterok:$array) -> $out"
echo "logs: $out/slurm-logs/   watch: squeue -j $array,$merge"
