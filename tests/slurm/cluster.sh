#!/bin/bash
# tests/slurm/cluster.sh: a private one-node Slurm cluster on this machine (slurmctld + slurmd +
# its own munged), to try `airmeta sweep --plan DIR --slurm` without a cluster (issue 14).
#
#   bash tests/slurm/cluster.sh start DIR   # DIR: a new or empty folder for keys, state, logs
#   export SLURM_CONF=DIR/slurm.conf        # then sbatch / squeue / sinfo talk to it
#   bash tests/slurm/cluster.sh stop DIR
#
# Runs as root (slurmd starts jobs as their users). Everything lives in DIR: a munge key and
# socket of its own (AuthInfo=socket=...), free TCP ports, slurm.conf with this host's name, CPUs
# and memory as `slurmd -C` reads them; no cgroups (proctrack/linuxproc, task/none), no
# accounting. Nothing under /etc is used or changed, and the system's munge/slurm services (if
# any) are left alone. `start` waits (at most 60 s) until the node is idle; it exits 3 when the
# cluster cannot start (messages and log tails on stderr), 2 on bad usage.
set -u

die() { echo "cluster.sh: $*" >&2; exit "${code:-3}"; }

# Two free TCP ports (bound once by python3, else picked from the pid).
free_ports() {
    python3 - 2>/dev/null <<'PY' || echo "$((20000 + $$ % 20000)) $((20001 + $$ % 20000))"
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))
PY
}

start() {
    local d=$1 tool
    for tool in munged slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install slurm-wlm munge)"
    done
    [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as their users)"
    mkdir -p "$d" && d=$(cd "$d" && pwd) || die "cannot make $d"
    [ -e "$d/slurm.conf" ] && die "$d already holds a cluster (stop it first)"
    chmod 0700 "$d"
    mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log"
    chmod 0700 "$d/munge"
    # munge: a key of our own, a socket of our own
    dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none &&
        chmod 0400 "$d/munge/munge.key" || die "cannot write the munge key"
    munged --force --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" \
        --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" \
        --seed-file="$d/munge/munged.seed" 9>&- || die "munged did not start: $(tail -n 3 "$d/log/munged.log" 2>/dev/null)"
    local host node ports ctld_port d_port
    host=$(hostname -s)
    node=$(slurmd -C 2>/dev/null | head -n 1)
    case "$node" in NodeName=*) ;; *) die "slurmd -C did not describe this node: $node" ;; esac
    read -r ctld_port d_port <<<"$(free_ports)"
    cat >"$d/slurm.conf" <<EOF
# a private one-node cluster made by tests/slurm/cluster.sh
ClusterName=airmeta
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$d/slurm.conf
    # the daemons do not inherit a caller's descriptors beyond stdio (a test's lock on fd 9)
    slurmctld -D -f "$d/slurm.conf" >"$d/log/slurmctld.out" 2>&1 9>&- &
    echo $! >"$d/slurmctld.daemon"
    slurmd -D -f "$d/slurm.conf" -N "$host" >"$d/log/slurmd.out" 2>&1 9>&- &
    echo $! >"$d/slurmd.daemon"
    local i state=""
    for i in $(seq 1 60); do
        state=$(sinfo -h -n "$host" -o %T 2>/dev/null)
        case "$state" in idle | idle~ | mixed | allocated) break ;; esac
        for p in slurmctld slurmd; do
            kill -0 "$(cat "$d/$p.daemon")" 2>/dev/null ||
                die "$p exited: $(tail -n 5 "$d/log/$p.out" "$d/log/$p.log" 2>/dev/null)"
        done
        sleep 1
    done
    case "$state" in
    idle | idle~ | mixed | allocated) echo "cluster.sh: node $host $state; SLURM_CONF=$d/slurm.conf" ;;
    *) die "node $host not idle after 60 s (state '$state'): $(tail -n 5 "$d/log/slurmctld.log" "$d/log/slurmd.log" 2>/dev/null)" ;;
    esac
}

# Stops what start started (by the pids it recorded), waiting at most 20 s for each.
stop() {
    local d=$1 f pid i
    for f in "$d/slurmd.daemon" "$d/slurmctld.daemon" "$d/munge/munged.pid"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || continue
        for i in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        rm -f "$f"
    done
    rm -f "$d/slurm.conf"
    return 0
}

code=2
case "${1:-} ${2:-}" in
start\ ?*) code=3 start "$2" ;;
stop\ ?*) stop "$2" ;;
*) die "usage: cluster.sh start|stop DIR" ;;
esac
