#!/usr/bin/env bash
# The multi-group targets (docs/performance.md, "Many groups"), on three sansraft-multi hosts in
# one process with every batch encoded and decoded:
#   - memory per idle replica, 10,000 groups x 3 replicas (a counting allocator);
#   - one periodic batch per peer node per heartbeat interval, whatever the group count;
#   - failover: the ticks from the failure detector's report to a new leader, per group;
#   - throughput: 1 busy group against 1,000 busy groups (each taking one 16 B proposal per
#     round), in instructions per committed entry (callgrind, over the timed rounds only) and
#     in entries per CPU-second (which swings on a shared machine).
#
# Usage: bench/groups.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sansraft-multi --examples
bin=target/release/examples
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== memory per idle replica"
"$bin/idle_memory" 10000
echo
echo "== periodic batches per peer per interval"
"$bin/coalescing"
echo
echo "== failover after a host is killed"
"$bin/groups_bench" failover 10000
echo
echo "== throughput, entries per CPU-second"
"$bin/groups_bench" throughput 1 300000 1
"$bin/groups_bench" throughput 1000 300 1
echo
echo "== throughput, instructions per committed entry (callgrind, timed rounds only)"
ir() {
    local groups=$1 rounds=$2 entries=$(($1 * $2))
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" --toggle-collect='*timed_rounds*' \
        "$bin/groups_bench" throughput "$groups" "$rounds" 1 >/dev/null 2>"$out/log"
    local total
    total=$(grep -E '^(summary|totals):' "$out/cg" | head -1 | awk '{print $2}')
    echo "groups $groups: $((total / entries)) instructions per entry ($entries entries)"
}
ir 1 20000
ir 1000 20
