#!/usr/bin/env bash
# peak-memory.sh CMD [ARG...]: runs CMD and, when it ends, prints the peak of
# the resident memory of its whole process tree (CMD, make, go, the
# compilers, every test binary and every Traefik, Litestream or stand-in
# process a test starts), summed over the processes and sampled every
# 0.2 s with ps; then exits with CMD's status.
#
# Why a sampled sum: `make test` is hundreds of processes, and
# /usr/bin/time reports only the largest one; a cgroup's memory peak is
# exact but needs a writable cgroup v2 (not on every laptop or CI box) and
# counts the page cache the tests' databases fill. The sum counts memory
# shared between processes (binaries, libc) once per process, so it errs
# high; a spike shorter than a sample can be missed, but the processes that
# matter (test binaries, compilers, Traefik) hold their memory for seconds.
#
# BERTH_MEMORY_GOAL_MIB (4096) only changes when the last line warns.
set -uo pipefail

goal_mib="${BERTH_MEMORY_GOAL_MIB:-4096}"
interval=0.2

"$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM

# One sample: "total_kib<TAB>the three largest processes".
sample() {
  ps -A -o pid=,ppid=,rss=,comm= 2>/dev/null | awk -v root="$pid" '
    { parent[$1] = $2; rss[$1] = $3; name = $4; for (i = 5; i <= NF; i++) name = name " " $i; comm[$1] = name }
    END {
      total = 0; n = 0
      for (p in parent) {
        # p belongs to the tree when root is among its ancestors.
        q = p; hops = 0
        while (q != root && q in parent && q > 1 && hops++ < 64) q = parent[q]
        if (q != root) continue
        total += rss[p]; pids[++n] = p
      }
      top = ""
      for (k = 1; k <= 3 && k <= n; k++) {
        best = k
        for (j = k + 1; j <= n; j++) if (rss[pids[j]] > rss[pids[best]]) best = j
        t = pids[k]; pids[k] = pids[best]; pids[best] = t
        c = comm[pids[k]]; sub(/.*\//, "", c)
        top = top (k > 1 ? ", " : "") c " " int(rss[pids[k]] / 1024) " MiB"
      }
      printf "%d\t%s\n", total, top
    }'
}

start=$SECONDS
peak_kib=0
peak_top=""
peak_at=0
while kill -0 "$pid" 2>/dev/null; do
  IFS=$'\t' read -r kib top < <(sample)
  if [[ "$kib" =~ ^[0-9]+$ ]] && ((kib > peak_kib)); then
    peak_kib=$kib peak_top=$top peak_at=$((SECONDS - start))
  fi
  sleep "$interval"
done
wait "$pid"
rc=$?

peak_mib=$((peak_kib / 1024))
echo "peak memory: ${peak_mib} MiB resident, summed over the whole process tree of '$*'" \
  "(ps every ${interval} s; at ${peak_at} s of $((SECONDS - start)) s; largest then: ${peak_top:-none})"
if ((peak_mib > goal_mib)); then
  echo "peak memory: above the ${goal_mib} MiB goal" >&2
fi
exit "$rc"
