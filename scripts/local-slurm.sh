#!/usr/bin/env bash
# A single-node SLURM on this Debian machine, for the `slurm` tests: scripts/local-slurm.sh start|stop|status
# Needs root. Installs Debian's slurmctld, slurmd, slurm-client and munge when missing; no systemd.
set -euo pipefail

log=/var/log/slurm
spool_ctl=/var/spool/slurmctld
spool_d=/var/spool/slurmd

start() {
    [ "$(id -u)" = 0 ] || { echo "local-slurm: must run as root" >&2; exit 1; }
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
    fi
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$((mem > 1024 ? mem - 512 : mem))
    mkdir -p /etc/slurm "$log" "$spool_ctl" "$spool_d" /run/munge /etc/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    cat >/etc/slurm/slurm.conf <<CONF
ClusterName=bowsflow
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=$spool_ctl
SlurmdSpoolDir=$spool_d
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    pgrep -x munged >/dev/null || runuser -u munge -- munged
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    for _ in $(seq 1 30); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)'; then
            echo "local-slurm: node $host idle ($cpus CPUs, ${mem} MB)"
            return 0
        fi
        sleep 1
    done
    echo "local-slurm: the node did not become idle; see $log" >&2
    exit 1
}

stop() {
    pkill -x slurmd || true
    pkill -x slurmctld || true
    pkill -x munged || true
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) sinfo ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
