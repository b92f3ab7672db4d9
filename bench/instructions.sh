#!/usr/bin/env bash
# Instructions per committed entry for each implementation and workload, counted by callgrind
# over exactly the timed rounds (`timed_rounds` in bench/src/workload.rs) of a `--quick` run.
# Unlike wall or CPU time, the counts do not depend on what else the machine is running.
# Usage: bench/instructions.sh [WORKLOAD...]   (default: every workload; takes a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sansraft-bench
bin=target/release/sansraft-bench
workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then
    workloads=(3n/16B/x1 3n/16B/x64 3n/256B/x1 3n/256B/x64 5n/16B/x1 5n/16B/x64 5n/256B/x1 5n/256B/x64)
fi
out=$(mktemp -d)
printf '%-12s %12s %12s %12s %9s %9s\n' workload sansraft raft-rs noraft /raft-rs /noraft
for w in "${workloads[@]}"; do
    # --quick runs 2,000 entries at 1 per step and 20,000 at 64 per step.
    case "$w" in *x1) entries=2000 ;; *) entries=20000 ;; esac
    row=()
    for impl in sansraft raft-rs noraft; do
        valgrind --tool=callgrind --callgrind-out-file="$out/cg" --toggle-collect='*timed_rounds*' \
            "$bin" throughput --quick "--impl=$impl" "--workload=$w" >/dev/null 2>"$out/log"
        ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out/log")
        row+=($((ir / entries)))
    done
    printf '%-12s %12s %12s %12s %8.2fx %8.2fx\n' "$w" "${row[0]}" "${row[1]}" "${row[2]}" \
        "$(echo "${row[1]} / ${row[0]}" | bc -l)" "$(echo "${row[2]} / ${row[0]}" | bc -l)"
done
rm -rf "$out"
