#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for CI's Slurm stage and for trying
# scripts/slurm/negclip.sbatch on one machine. NOT for production clusters: it runs every
# daemon as the calling user (root in CI), with no accounting, no cgroups and a throwaway
# munge key.
#
#   scripts/slurm/local-cluster.sh start STATE_DIR   # writes STATE_DIR/slurm.conf, starts
#                                                    # munged, slurmctld, slurmd; waits until
#                                                    # the node is idle
#   source STATE_DIR/env                             # SLURM_CONF for sinfo, sbatch, srun…
#   sbatch --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
#       scripts/slurm/negclip.sbatch configs/synthetic.toml runs/two cpu
#   scripts/slurm/local-cluster.sh stop STATE_DIR    # ends the daemons by their recorded PIDs
#
# Needs Debian's (or Ubuntu's) slurm-wlm and munge, and openmpi-bin for MPI jobs:
#   apt-get install slurm-wlm munge openmpi-bin
# No systemd is needed: the daemons are started directly. Everything they write (config,
# munge key and socket, state, spool, logs, PID files, the finished-job log jobcomp.txt)
# stays under STATE_DIR; nothing in /etc is read or changed. `start` also prints the
# `export` lines of STATE_DIR/env.
#
# Configuration: the node is this machine (`hostname -s`) with `nproc` CPUs and its memory;
# one partition `debug`, the default; MpiDefault=pmix; proctrack/linuxproc, task/none (no
# cgroups, which containers rarely allow); select/cons_tres with CR_CPU, so two 1-CPU tasks
# run side by side on a 2-CPU machine. Finished jobs stay visible to `scontrol show job` for
# 10 minutes (MinJobAge) and are logged to STATE_DIR/jobcomp.txt (JobState=COMPLETED…).
set -euo pipefail

usage() {
    echo "usage: $0 start|stop STATE_DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
CMD=$1
STATE=$2

DAEMONS=(slurmd slurmctld munged)   # the order `stop` ends them in

# Whether a process runs (a zombie, waiting for its parent to reap it, has ended).
alive() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "${stat%% *}" != Z ]
}

# The PID recorded for a daemon, if that process is alive and is that daemon (not another
# process that got the PID of one long gone).
live_pid() {
    local file=$STATE/$1.pid pid
    [ -s "$file" ] || return 1
    pid=$(cat "$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    echo "$pid"
}

stop() {
    local name pid i jobs
    # Jobs first: their slurmstepd processes would outlive slurmd.
    if live_pid slurmctld >/dev/null && [ -f "$STATE/slurm.conf" ]; then
        export SLURM_CONF=$STATE/slurm.conf
        jobs=$(squeue -h -o %A 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            echo "local-cluster: cancelling jobs" $jobs
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            for ((i = 0; i < 300; i++)); do   # 30 s
                [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
                sleep 0.1
            done
        fi
    fi
    for name in "${DAEMONS[@]}"; do
        pid=$(live_pid "$name") || { rm -f "$STATE/$name.pid"; continue; }
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do   # 10 s, then SIGKILL
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "local-cluster: $name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                alive "$pid" || break
                sleep 0.1
            done
        fi
        if alive "$pid"; then
            echo "local-cluster: $name (pid $pid) is still running" >&2
            return 1
        fi
        echo "local-cluster: stopped $name (pid $pid)"
        rm -f "$STATE/$name.pid"
    done
}

logs() {
    local f
    for f in munged slurmctld slurmd; do
        if [ -f "$STATE/log/$f.log" ]; then
            echo "---- $STATE/log/$f.log (last 30 lines) ----" >&2
            tail -n 30 "$STATE/log/$f.log" >&2
        fi
    done
}

fail() {
    echo "local-cluster: error: $*" >&2
    logs
    exit 1
}

start() {
    local name node cpus mem_mb key socket i t0
    t0=$SECONDS
    for name in "${DAEMONS[@]}"; do
        if pid=$(live_pid "$name"); then
            fail "$name is already running (pid $pid); run: $0 stop $STATE"
        fi
    done
    for name in munged slurmctld slurmd sinfo; do
        command -v "$name" >/dev/null || fail "$name not found (apt-get install slurm-wlm munge)"
    done

    mkdir -p "$STATE"
    STATE=$(cd "$STATE" && pwd)
    # munged refuses a key or socket in a directory others may write to.
    chmod 0755 "$STATE"
    mkdir -p "$STATE/munge" "$STATE/log" "$STATE/ctld" "$STATE/spool"
    chmod 0755 "$STATE/munge"   # the socket must be reachable by every user

    node=$(hostname -s 2>/dev/null || true)
    node=${node:-localhost}
    cpus=$(nproc)
    mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    key=$STATE/munge/munge.key
    socket=$STATE/munge/munge.socket

    # munge: a fresh key for this cluster only, readable by its owner alone.
    if [ ! -s "$key" ]; then
        dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
    chmod 0400 "$key"
    munged --key-file="$key" --socket="$socket" --pid-file="$STATE/munged.pid" \
        --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed" \
        || fail "munged did not start"
    for ((i = 0; i < 50; i++)); do
        [ -S "$socket" ] && break
        sleep 0.1
    done
    [ -S "$socket" ] || fail "munged made no socket $socket"

    cat >"$STATE/slurm.conf" <<EOF
# Written by scripts/slurm/local-cluster.sh: a one-node test cluster, not for production.
ClusterName=local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job may start again after 30 s (120 by default).
AuthInfo=socket=$socket,cred_expire=30
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Look at pending jobs every 5 s (a requeued job waits for the next pass).
SchedulerParameters=sched_interval=5,bf_interval=5
ReturnToService=2
# Finished jobs stay in scontrol show job for 10 minutes, and in jobcomp.txt for good.
MinJobAge=600
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

    export SLURM_CONF=$STATE/slurm.conf
    # A restart on the same STATE_DIR recovers its jobs; a new one starts empty.
    slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
    slurmd -f "$SLURM_CONF" || fail "slurmd did not start"

    # The daemons fork and write their PID files; wait for those, then for the node.
    while ((SECONDS - t0 < 60)); do
        if [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ]; then
            break
        fi
        for name in slurmctld slurmd; do
            if [ -s "$STATE/$name.pid" ] && ! live_pid "$name" >/dev/null; then
                fail "$name exited"
            fi
        done
        sleep 0.1
    done
    [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ] \
        || fail "node $node not idle after 60 s: $(sinfo -h -N -o '%N %T %E' 2>&1)"
    for name in munged slurmctld slurmd; do
        live_pid "$name" >/dev/null || fail "$name has no live PID in $STATE/$name.pid"
    done

    {
        echo "export SLURM_CONF=$SLURM_CONF"
        if [ "$(id -u)" = 0 ]; then
            # Jobs run as the submitter; Open MPI refuses root without these, and sbatch
            # passes the submitting environment on to the job.
            echo "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
        fi
    } >"$STATE/env"
    echo "local-cluster: node $node ($cpus CPUs, $mem_mb MB) idle after $((SECONDS - t0)) s;" \
        "source $STATE/env, or:" >&2
    cat "$STATE/env"
}

case $CMD in
start) start ;;
stop)
    [ -d "$STATE" ] || { echo "local-cluster: no $STATE; nothing to stop"; exit 0; }
    STATE=$(cd "$STATE" && pwd)
    stop
    ;;
*) usage ;;
esac
