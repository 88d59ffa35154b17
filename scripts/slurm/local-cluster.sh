# A one-node Slurm on 127.0.0.1, private to the caller, to try scripts/slurm/ without a
# cluster (tests/e2e/test_slurm.sh, scripts/scale-proof --slurm).  Source it, then:
#
#   rvt_slurm_install             # apt-get installs munge, slurmctld, slurmd and
#                                 # slurm-client when missing (root only)
#   rvt_slurm_start DIR || echo "$RVT_SLURM_WHY"
#   trap rvt_slurm_stop EXIT      # stops the three daemons by pid
#   scripts/slurm/submit.sh ...   # sbatch, squeue, scancel talk to it (SLURM_CONF)
#   rvt_slurm_wait OUT            # until OUT's jobs are over or stuck
#
# rvt_slurm_start writes DIR/slurm.conf (partition "rvt", one node of 2 CPUs, no
# cgroups: proctrack/linuxproc, task/none, no accounting) and a fresh munge key, starts
# munged, slurmctld and slurmd in the foreground of background jobs (their pids in
# RVT_SLURM_PIDS, logs in DIR/*.log, state and spool in DIR), exports SLURM_CONF, and
# waits until the node is idle.  The daemons run as the caller, who must be root (slurmd
# starts jobs as their user).  Ports are two free ones above 20000.
# ref: slurm.conf(5), munged(8) of Slurm 22.05 / MUNGE 0.5 (Debian bookworm).

RVT_SLURM_PIDS=()
RVT_SLURM_WHY=

rvt_slurm_install() {
  local p missing=()
  for p in munge slurmctld slurmd slurm-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    RVT_SLURM_WHY="${missing[*]} not installed, and not root with apt-get to install them"
    return 1
  fi
  echo "local-cluster: installing ${missing[*]}" >&2
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
  } >"${TMPDIR:-/tmp}/rvt-slurm-apt.$$" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || RVT_SLURM_WHY="apt-get install ${missing[*]} failed: $(tail -1 "${TMPDIR:-/tmp}/rvt-slurm-apt.$$")"
  rm -f "${TMPDIR:-/tmp}/rvt-slurm-apt.$$"
  return $rc
}

# a TCP port nothing listens on (the kernel's pick, above 20000)
_rvt_free_port() {
  /usr/bin/python3 - <<'PY'
import socket
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    if p > 20000:
        print(p)
        break
PY
}

rvt_slurm_start() {
  local d=$1 host i p1 p2
  RVT_SLURM_WHY=
  for i in munged slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$i" >/dev/null || PATH=$PATH:/usr/sbin
    command -v "$i" >/dev/null || { RVT_SLURM_WHY="no $i (rvt_slurm_install)"; return 1; }
  done
  [ "$(id -u)" -eq 0 ] || { RVT_SLURM_WHY="slurmd must run as root to start jobs"; return 1; }
  mkdir -p "$d/state" "$d/spool" && chmod 700 "$d" && d=$(cd "$d" && pwd) || return 1
  host=$(hostname -s)
  p1=$(_rvt_free_port) && p2=$(_rvt_free_port) || { RVT_SLURM_WHY="no free port"; return 1; }
  [ "$p1" != "$p2" ] || p2=$(_rvt_free_port)
  head -c 1024 /dev/urandom > "$d/munge.key" && chmod 600 "$d/munge.key" || return 1
  cat > "$d/slurm.conf" <<EOF
# written by scripts/slurm/local-cluster.sh: a one-node Slurm for tests
ClusterName=rvt
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$p1
SlurmdPort=$p2
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$d/munge.sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
# start a job as soon as it can run (the defaults wait up to seconds between passes)
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
# finished jobs stay visible to squeue -t all for 10 minutes
MinJobAge=600
ReturnToService=2
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
NodeName=rvt1 NodeHostname=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=rvt Nodes=rvt1 Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$d/slurm.conf
  munged -F --force --socket="$d/munge.sock" --key-file="$d/munge.key" --pid-file="$d/munged.pid" \
    --log-file="$d/munged.log" --seed-file="$d/munged.seed" >>"$d/munged.log" 2>&1 &
  RVT_SLURM_PIDS+=($!)
  for i in $(seq 50); do [ -S "$d/munge.sock" ] && break; sleep 0.1; done
  [ -S "$d/munge.sock" ] || { RVT_SLURM_WHY="munged did not start: $(tail -1 "$d/munged.log")"; return 1; }
  slurmctld -D -f "$d/slurm.conf" >>"$d/slurmctld.out" 2>&1 &
  RVT_SLURM_PIDS+=($!)
  slurmd -D -f "$d/slurm.conf" -N rvt1 >>"$d/slurmd.out" 2>&1 &
  RVT_SLURM_PIDS+=($!)
  # the node is up when sinfo calls it idle (slurmctld takes a second or two)
  for i in $(seq 150); do
    [ "$(sinfo -h -n rvt1 -o %t 2>/dev/null)" = idle ] && return 0
    for p in "${RVT_SLURM_PIDS[@]}"; do
      kill -0 "$p" 2>/dev/null || {
        RVT_SLURM_WHY="a daemon exited: $(tail -2 "$d/slurmctld.log" "$d/slurmd.log" 2>/dev/null | tr '\n' ' ')"
        return 1; }
    done
    sleep 0.2
  done
  RVT_SLURM_WHY="node rvt1 not idle after 30 s: $(sinfo -h -o '%t %E' 2>&1 | head -1)"
  return 1
}

# stops every daemon rvt_slurm_start started (TERM, then KILL after 5 s), by pid
rvt_slurm_stop() {
  local p i left
  [ ${#RVT_SLURM_PIDS[@]} -gt 0 ] || return 0
  # jobs still running on this private cluster end with it
  if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
    scancel -u "$(id -un)" 2>/dev/null
    for i in $(seq 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  for ((i = ${#RVT_SLURM_PIDS[@]} - 1; i >= 0; i--)); do kill "${RVT_SLURM_PIDS[i]}" 2>/dev/null; done
  for i in $(seq 50); do
    left=
    for p in "${RVT_SLURM_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
    [ -z "$left" ] && break
    sleep 0.1
  done
  for p in $left; do kill -9 "$p" 2>/dev/null; done
  wait "${RVT_SLURM_PIDS[@]}" 2>/dev/null
  RVT_SLURM_PIDS=()
  return 0
}

# rvt_slurm_wait OUT [TIMEOUT_S]: waits until no job that submit.sh recorded in
# OUT/slurm.jobs is pending or running, or the only ones left wait on a dependency that
# can never be satisfied.  Returns 0 when all of them are over, 1 when one is stuck or
# the time (default 600 s) ran out.
rvt_slurm_wait() {
  local ids t0=$SECONDS st
  ids=$(sed -n 's/^\(array\|pack\)=//p' "$1/slurm.jobs" | sort -u | paste -sd,)
  [ -n "$ids" ] || return 1
  while [ $((SECONDS - t0)) -lt "${2:-600}" ]; do
    # (no pipe into grep -q: under pipefail the writer's SIGPIPE would fail it)
    if st=$(squeue -h -j "$ids" -o '%T %r' 2>&1); then
      [ -z "$st" ] && return 0
      grep -qv 'DependencyNeverSatisfied' <<<"$st" || return 1
    else
      case $st in *"Invalid job id"*) return 0 ;; esac  # all finished long ago
    fi
    sleep 0.3
  done
  return 1
}
