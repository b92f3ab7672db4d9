#!/usr/bin/env bash
# Instructions per committed entry for each implementation and workload, counted by callgrind
# over exactly the timed rounds (`timed_rounds` in bench/src/workload.rs) of a `--quick` run,
# with the allocations per entry of the same rounds (the counting allocator's figure).
# Unlike wall or CPU time, the counts do not depend on what else the machine is running.
#
# Usage: bench/instructions.sh [--mode=wire|in-process] [--markdown] [WORKLOAD...]
#   --mode        how messages travel (default wire, the headline; see docs/performance.md)
#   --markdown    print a Markdown table (bench/report.sh puts it into docs/performance.md)
#   WORKLOAD      e.g. 3n/16B/x64; default every workload (`sansraft-bench --list-workloads`),
#                 about 2 s of callgrind per cell, a few minutes in all
set -euo pipefail
cd "$(dirname "$0")/.."
mode=wire
markdown=false
workloads=()
for arg in "$@"; do
    case "$arg" in
    --mode=*) mode=${arg#--mode=} ;;
    --markdown) markdown=true ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) workloads+=("$arg") ;;
    esac
done
cargo build --release -q -p sansraft-bench
bin=target/release/sansraft-bench
if [ ${#workloads[@]} -eq 0 ]; then
    mapfile -t workloads < <("$bin" --list-workloads)
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
impls=(sansraft raft-rs noraft)

# One cell: "<instructions per entry> <allocations per entry>".
cell() {
    local impl=$1 w=$2 line entries allocs ir
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" --toggle-collect='*timed_rounds*' \
        "$bin" throughput --quick --cells "--mode=$mode" "--impl=$impl" "--workload=$w" \
        >"$out/cells" 2>"$out/log"
    line=$(grep '^cell ' "$out/cells")
    entries=$(sed -n 's/.* entries=\([0-9]*\).*/\1/p' <<<"$line")
    allocs=$(sed -n 's/.* allocs=\([0-9]*\).*/\1/p' <<<"$line")
    ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out/log")
    echo "$((ir / entries)) $(printf '%.3f' "$(echo "$allocs / $entries" | bc -l)")"
}

commit=$(git rev-parse --short HEAD)
dirty=$(git diff --quiet HEAD -- . ':!docs' && echo "" || echo "+uncommitted")
if $markdown; then
    echo "| workload | sansraft | raft-rs | noraft | raft-rs/ours | noraft/ours | alloc/e sansraft | raft-rs | noraft |"
    echo "|---|---|---|---|---|---|---|---|---|"
else
    echo "# instructions per entry, mode=$mode, commit $commit$dirty"
    printf '%-14s %10s %10s %10s %9s %9s | %8s %8s %8s\n' workload sansraft raft-rs noraft \
        /raft-rs /noraft "alloc/e" raft-rs noraft
fi
for w in "${workloads[@]}"; do
    ir=()
    al=()
    for impl in "${impls[@]}"; do
        read -r i a < <(cell "$impl" "$w")
        ir+=("$i")
        al+=("$a")
    done
    r1=$(printf '%.2f' "$(echo "${ir[1]} / ${ir[0]}" | bc -l)")
    r2=$(printf '%.2f' "$(echo "${ir[2]} / ${ir[0]}" | bc -l)")
    if $markdown; then
        echo "| $w | ${ir[0]} | ${ir[1]} | ${ir[2]} | ${r1}× | ${r2}× | ${al[0]} | ${al[1]} | ${al[2]} |"
    else
        printf '%-14s %10s %10s %10s %8sx %8sx | %8s %8s %8s\n' "$w" "${ir[0]}" "${ir[1]}" \
            "${ir[2]}" "$r1" "$r2" "${al[0]}" "${al[1]}" "${al[2]}"
    fi
done
