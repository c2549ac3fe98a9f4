#!/bin/bash
# End-to-end test of scripts/slurm/ on a real single-node Slurm cluster on localhost
# (munged + slurmctld + slurmd, no systemd, no cgroups, no slurmdbd).
#
#   sudo scripts/slurm/ci-test.sh            # from anywhere; it works from the repo root
#
# 1. installs slurmctld slurmd slurm-client munge with apt-get if missing (needs root);
# 2. starts the three daemons with every file (config, munge key and socket, state, logs) under
#    $WORK, and always stops them again at exit;
# 3. submits the grid with scripts/slurm/submit.sh as a SHARDS-task array + merge job
#    (afterok dependency, kill-on-invalid-dep) and waits for both, with a timeout;
# 4. requires every array task and the merge job to end in JobState=COMPLETED;
# 5. runs the same grid on this machine without Slurm and requires the merged runs.parquet to
#    equal it apart from wall_us (compared with polars when $PYTHON imports it, else with
#    `initgrid summary --format csv` for every outcome plus the row count), and cells.parquet
#    and effects.parquet to be byte-identical.
# Prints a short transcript ending in "slurm test: OK"; exits non-zero on any failure, after
# printing the Slurm logs. Takes about 10-20 s once the packages are installed.
#
# Environment:
#   INITGRID  binary under test (default target/debug/initgrid; copied into $WORK first)
#   CONFIG    grid (default configs/quick.toml)
#   SEEDS     override the config's seeds (default 192: quick.toml's 8 cells x 192 seeds are
#             3 chunk windows, so each of 3 shards trains one; at its own 64 seeds quick.toml is
#             a single window and 2 of the 3 shards would have nothing to do); empty = keep
#   SHARDS    array size (default 3)
#   TIMEOUT   seconds to wait for the jobs (default 180)
#   PYTHON    python used for the polars comparison (default python3)
#   WORK      scratch dir, all ancestors must be o+x (default /tmp/initgrid-slurm-ci.PID,
#             removed on success unless KEEP=1; a WORK you set is kept, its out/ and single/
#             are replaced)
#   SLURMCTLD_PORT, SLURMD_PORT  (default 6817, 6818; must be free)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH=$PATH:/usr/sbin:/sbin
INITGRID=${INITGRID:-target/debug/initgrid}
CONFIG=${CONFIG:-configs/quick.toml}
SEEDS=${SEEDS-192}
SHARDS=${SHARDS:-3}
TIMEOUT=${TIMEOUT:-180}
PYTHON=${PYTHON:-python3}
if [[ -n ${WORK:-} ]]; then own_work=; else own_work=1 WORK=/tmp/initgrid-slurm-ci.$$; fi
WORK=$(realpath -m "$WORK")
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
export SLURM_CONF=$WORK/slurm.conf
MSOCK=$WORK/munge/munge.socket.2

T0=${EPOCHREALTIME/./}
el() { local t=$(( (${EPOCHREALTIME/./} - T0) / 100000 )); printf '%3d.%ds' $((t / 10)) $((t % 10)); }
say() { echo "[$(el)] $*"; }
die() { echo "[$(el)] FAIL: $*" >&2; exit 1; }

# ---- preconditions ---------------------------------------------------------------------------
[[ $(id -u) == 0 ]] || die "must run as root (apt-get, and slurmd runs jobs as root here)"
[[ -x $INITGRID ]] || die "no initgrid binary at $INITGRID (build it, or set INITGRID)"
[[ -f $CONFIG ]] || die "no config $CONFIG"
for p in "$CTLD_PORT" "$SLURMD_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p on 127.0.0.1 is in use (another Slurm?); set SLURMCTLD_PORT/SLURMD_PORT"
    fi
done

missing=0
for b in munged slurmctld slurmd sbatch squeue scontrol sinfo; do command -v "$b" >/dev/null || missing=1; done
if (( missing )); then
    say "installing slurmctld slurmd slurm-client munge (apt-get)"
    aptlog=$(mktemp)
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        slurmctld slurmd slurm-client munge; } >"$aptlog" 2>&1 || { cat "$aptlog" >&2; die "apt-get failed"; }
    rm -f "$aptlog"
fi
say "slurm $(dpkg-query -W -f '${Version}' slurmctld 2>/dev/null || echo '?')," \
    "munge $(dpkg-query -W -f '${Version}' munge 2>/dev/null || echo '?')"

rm -rf "$WORK/out" "$WORK/single"
mkdir -p "$WORK"/{munge,state,spool,log,run}
chmod 755 "$WORK" "$WORK/munge"
d=$WORK   # munged refuses a socket dir unless it and every ancestor are world-executable
while [[ $d != / ]]; do
    [[ $(stat -c %A "$d") == *[xt] ]] || die "$d is not o+x (munged needs that): choose another WORK"
    d=$(dirname "$d")
done
cp "$INITGRID" "$WORK/initgrid"   # a rebuild during the test must not swap the binary
if [[ -n $SEEDS ]]; then
    sed -E "s/^seeds[[:space:]]*=[[:space:]]*[0-9]+/seeds = $SEEDS/" "$CONFIG" > "$WORK/grid.toml"
    grep -qE "^seeds = $SEEDS\b" "$WORK/grid.toml" || die "could not set seeds = $SEEDS in $CONFIG"
else
    cp "$CONFIG" "$WORK/grid.toml"
fi

# ---- the cluster -----------------------------------------------------------------------------
start_cluster() {
    local h; h=$(hostname -s)
    cat > "$SLURM_CONF" <<EOF
ClusterName=ci
SlurmctldHost=$h(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MSOCK
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
DependencyParameters=kill_invalid_depend
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$h NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$h Default=YES MaxTime=INFINITE State=UP
EOF
    [[ -f $WORK/munge/munge.key ]] || {
        dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$WORK/munge/munge.key"; }
    munged --key-file="$WORK/munge/munge.key" --socket="$MSOCK" \
           --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/log/munged.log" \
           --seed-file="$WORK/munge/munged.seed"
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    for _ in $(seq 1 60); do
        [[ $(sinfo -h -o %T 2>/dev/null) == idle ]] && return 0
        sleep 0.5
    done
    sinfo -N -l >&2 || true
    return 1
}

stop_cluster() {
    scontrol shutdown >/dev/null 2>&1 || true
    local f p
    for f in run/slurmctld.pid run/slurmd.pid; do
        p=$(cat "$WORK/$f" 2>/dev/null || true)
        for _ in $(seq 1 20); do [[ -n $p ]] && kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
        if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then kill "$p" || true; fi
    done
    p=$(cat "$WORK/munge/munged.pid" 2>/dev/null || true)
    if [[ -n $p ]]; then kill "$p" 2>/dev/null || true; fi
}

on_exit() {
    local rc=$?
    set +e
    trap '' PIPE   # a closed stdout (e.g. `| head`) must not stop us before the daemons are stopped
    if (( rc != 0 )); then
        echo "---- diagnostics (work dir $WORK kept) ----" >&2
        sinfo -N -l >&2 2>/dev/null || true
        [[ -z ${array:-} ]] || scontrol -o show job "$array" >&2 2>/dev/null || true
        [[ -z ${merge:-} ]] || scontrol -o show job "$merge" >&2 2>/dev/null || true
        for f in "$WORK"/out/slurm-logs/*.out "$WORK"/log/*.log; do
            [[ -f $f ]] || continue
            echo "== $f (last 15 lines)" >&2; tail -n 15 "$f" >&2
        done
    fi
    stop_cluster
    if (( rc == 0 )) && [[ -n $own_work && -z ${KEEP:-} ]]; then rm -rf "$WORK"; fi
    say "daemons stopped$( (( rc == 0 )) || echo ", exit $rc")"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE   # stdout closed (e.g. piped to head): exit through on_exit, which stops the daemons

wait_gone() {   # until job $1 (or every task of array $1) has left the queue
    local deadline=$(( SECONDS + TIMEOUT ))
    while [[ -n $(squeue -h -j "$1" 2>/dev/null) ]]; do
        (( SECONDS < deadline )) || die "timeout: job $1 still queued after ${TIMEOUT}s"
        sleep 0.5
    done
}

field() { grep -o "\b$1=[^ ]*" | head -n 1 | cut -d= -f2-; }   # field NAME < scontrol -o line

start_cluster || die "the node never became idle"
say "cluster up: node $(sinfo -h -o '%n %T, %c CPUs'), work dir $WORK"

# ---- the grid on Slurm -----------------------------------------------------------------------
say "submitting: scripts/slurm/submit.sh $CONFIG${SEEDS:+ (seeds = $SEEDS)} OUT $SHARDS"
t_submit=$SECONDS
sub=$(INITGRID=$WORK/initgrid scripts/slurm/submit.sh "$WORK/grid.toml" "$WORK/out" "$SHARDS")
sed 's/^/    /' <<<"$sub"
array=$(sed -n 's/^array job \([0-9]*\):.*/\1/p' <<<"$sub")
merge=$(sed -n 's/^merge job \([0-9]*\):.*/\1/p' <<<"$sub")
[[ -n $array && -n $merge ]] || die "could not read the job ids from submit.sh"

wait_gone "$merge"
wait_gone "$array"
say "both jobs left the queue after $(( SECONDS - t_submit )) s"

ok=0
while read -r line; do
    [[ -n $line ]] || continue
    st=$(field JobState <<<"$line")
    echo "    array $array task $(field ArrayTaskId <<<"$line") (job $(field JobId <<<"$line")):" \
         "$st exit $(field ExitCode <<<"$line"), $(field StartTime <<<"$line" | cut -dT -f2)" \
         "-> $(field EndTime <<<"$line" | cut -dT -f2)"
    [[ $st == COMPLETED ]] && ok=$((ok + 1))
done < <(scontrol -o show job "$array" |   # one line per task; list them by task id
         awk 'match($0, /ArrayTaskId=[0-9]+/) { print substr($0, RSTART + 12, RLENGTH - 12), $0 }' |
         sort -n | cut -d' ' -f2-)
mline=$(scontrol -o show job "$merge")
mstate=$(field JobState <<<"$mline")
echo "    merge job $merge: $mstate exit $(field ExitCode <<<"$mline"), reason $(field Reason <<<"$mline")," \
     "$(field StartTime <<<"$mline" | cut -dT -f2) -> $(field EndTime <<<"$mline" | cut -dT -f2)"
(( ok == SHARDS )) || die "$ok of $SHARDS array tasks COMPLETED"
[[ $mstate == COMPLETED ]] || die "merge job $merge: JobState=$mstate"
for k in $(seq 0 $((SHARDS - 1))); do
    s=$WORK/out/state-shard-$k-of-$SHARDS.json
    [[ -f $s ]] || die "no $s"
    echo "    shard $k/$SHARDS trained $(grep -o '"runs_trained": [0-9]*' "$s" | grep -o '[0-9]*$') runs"
done
grep -h "^merged" "$WORK"/out/slurm-logs/merge-*.out | sed 's/^/    merge log: /'

# ---- the same grid on this machine -----------------------------------------------------------
t=${EPOCHREALTIME/./}
"$WORK/initgrid" --config "$WORK/grid.toml" --out "$WORK/single" --quiet
say "single-machine run: $(( (${EPOCHREALTIME/./} - t) / 1000 )) ms"

for f in cells.parquet effects.parquet; do
    cmp -s "$WORK/out/$f" "$WORK/single/$f" || die "$f differs between the Slurm run and the single run"
done
say "cells.parquet and effects.parquet: byte-identical"

if "$PYTHON" -c 'import polars' 2>/dev/null; then
    compare='
import sys
import polars as pl
slurm, single = (pl.read_parquet(p).drop("wall_us") for p in sys.argv[1:])
if slurm.schema != single.schema or not slurm.equals(single):
    print(f"{slurm.shape} vs {single.shape}, schemas equal: {slurm.schema == single.schema}")
    sys.exit(1)
print(f"runs.parquet: {slurm.height} rows x {slurm.width} columns equal apart from wall_us "
      f"(polars {pl.__version__})")
'
    msg=$("$PYTHON" -c "$compare" "$WORK/out/runs.parquet" "$WORK/single/runs.parquet") ||
        die "runs.parquet differs: $msg"
    say "$msg"
else
    say "($PYTHON has no polars: comparing initgrid summaries instead)"
    for outcome in converged diverged dead stalled; do
        a=$("$WORK/initgrid" summary "$WORK/out" --outcome "$outcome" --format csv)
        b=$("$WORK/initgrid" summary "$WORK/single" --outcome "$outcome" --format csv)
        [[ $a == "$b" ]] || die "summary --outcome $outcome differs"
    done
    rows() { "$WORK/initgrid" summary "$1" --format csv | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "n") c = i; next } { s += $c } END { print s }'; }
    na=$(rows "$WORK/out"); nb=$(rows "$WORK/single")
    [[ $na == "$nb" && $na -gt 0 ]] || die "row counts differ: $na vs $nb"
    say "runs.parquet: $na rows on both sides; summaries of all four outcomes equal"
fi
say "slurm test: OK"
