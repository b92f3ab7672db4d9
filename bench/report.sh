#!/usr/bin/env bash
# Regenerates the figures of docs/performance.md: runs the benchmarks and writes each table
# between its markers in the file (`<!-- report:NAME -->` ... `<!-- /report:NAME -->`), with
# the command, commit, time and load average that produced it. Prose around the markers is
# left alone; read it again after a run, as it quotes some figures.
#
# Usage: bench/report.sh [--quick] [PART...]
#   PART      throughput, instructions, footprint, election, steps (default all)
#   --quick   the binary's `--quick` sizes (a smoke run, not for the docs)
# A full run takes about 8 minutes of the 2-core machine at load average 6: throughput (both
# modes, 3 repeats) about 3, instructions (both modes, callgrind) about 4, the rest under 1.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
parts=()
for arg in "$@"; do
    case "$arg" in
    --quick) quick="--quick" ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) parts+=("$arg") ;;
    esac
done
[ ${#parts[@]} -gt 0 ] || parts=(throughput instructions footprint election steps)
wants() { [[ " ${parts[*]} " == *" $1 "* ]]; }

doc=docs/performance.md
cargo build --release -q -p sansraft-bench
bin=target/release/sansraft-bench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- . ':!docs' || commit="$commit+uncommitted"
stamp() {
    printf '_%s, at %s, %s UTC, load average %s on %s CPUs._\n\n' "$1" "$commit" \
        "$(date -u +'%Y-%m-%d %H:%M')" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
}

# Replaces what lies between the markers of `name` in the doc with the file `src`.
put() {
    local name=$1 src=$2
    grep -qx "<!-- report:$name -->" "$doc" || { echo "$doc has no <!-- report:$name -->" >&2; exit 1; }
    awk -v begin="<!-- report:$name -->" -v end="<!-- /report:$name -->" -v src="$src" '
        $0 == begin { print; while ((getline line < src) > 0) print line; skip = 1; next }
        $0 == end { skip = 0 }
        !skip { print }' "$doc" >"$tmp/doc"
    mv "$tmp/doc" "$doc"
    echo "wrote report:$name" >&2
}

# The `--cells` lines of one mode as a Markdown table, workloads in the order run.
throughput_table() {
    awk '
        function field(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } }
        /^cell / {
            w = field("workload"); impl = field("impl")
            if (!(w in seen)) { seen[w] = 1; order[n++] = w }
            e = field("entries"); cpu = field("cpu_ns"); wall = field("wall_ns")
            eps[w, impl] = e / cpu * 1e9; nse[w, impl] = cpu / e
            weps[w, impl] = e / wall * 1e9; ape[w, impl] = field("allocs") / e
        }
        function cells(w, impl) {
            return sprintf("%d | %.0f | %d | %.3f", eps[w, impl], nse[w, impl], weps[w, impl], ape[w, impl])
        }
        END {
            print "| workload | sansraft e/s | ns/e | wall e/s | alloc/e | raft-rs e/s | ns/e | wall e/s | alloc/e | noraft e/s | ns/e | wall e/s | alloc/e | ours/raft-rs | ours/noraft |"
            print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            for (i = 0; i < n; i++) {
                w = order[i]
                printf "| %s | %s | %s | %s | %.2f× | %.2f× |\n", w, cells(w, "sansraft"), cells(w, "raft-rs"),
                    cells(w, "noraft"), eps[w, "sansraft"] / eps[w, "raft-rs"], eps[w, "sansraft"] / eps[w, "noraft"]
            }
        }'
}

if wants throughput; then
    for mode in wire in-process; do
        echo "throughput, $mode ..." >&2
        "$bin" throughput --cells "--mode=$mode" $quick >"$tmp/cells"
        { stamp "\`sansraft-bench throughput --mode=$mode${quick:+ $quick}\` (via bench/report.sh)"; throughput_table <"$tmp/cells"; } >"$tmp/table"
        put "throughput-$mode" "$tmp/table"
    done
fi
if wants instructions; then
    for mode in wire in-process; do
        echo "instructions, $mode ..." >&2
        { stamp "\`bench/instructions.sh --mode=$mode\` (via bench/report.sh)"; bench/instructions.sh --markdown "--mode=$mode"; } >"$tmp/table"
        put "instructions-$mode" "$tmp/table"
    done
fi
# The binary's own output of the given parts, verbatim, as the report part `name`.
verbatim() {
    local name=$1
    shift
    echo "$name ..." >&2
    {
        stamp "\`sansraft-bench $*${quick:+ $quick}\` (via bench/report.sh)"
        echo '```'
        "$bin" "$@" $quick | sed -e '/^sansraft-bench/d' -e '/^$/d'
        echo '```'
    } >"$tmp/$name"
    put "$name" "$tmp/$name"
}
if wants footprint; then verbatim footprint alloc memory; fi
if wants election; then verbatim election election; fi
if wants steps; then verbatim steps steps; fi
