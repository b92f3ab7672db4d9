#!/usr/bin/env bash
# Runs one fuzz target for a bounded time on the stable toolchain.
#
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
#
# TARGET is decode, node_step or cluster. Installs cargo-fuzz if it is missing. The checked-in
# seed corpus (fuzz/corpus/TARGET) is read but never written: new inputs go to a scratch corpus
# under fuzz/target/corpus/TARGET, and a finding is saved under fuzz/artifacts/TARGET/. One
# process on one core; memory and input size are bounded. Extra flags go to libFuzzer, e.g.
# -seed=1 or -print_final_stats=1 (a later -max_len overrides the default). RAFT_FUZZ_CANARY=<name>
# switches a deliberate bug on in the node_step and cluster targets (see docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    echo "usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags...]" >&2
    exit 2
fi
target=$1
seconds=$2
shift 2

# Small inputs keep executions fast (docs/fuzzing.md, "Speed"): an input is a list of
# operations, and each costs a step of every check.
case "$target" in
decode) max_len=512 ;;
node_step) max_len=256 ;;
cluster) max_len=512 ;;
*)
    echo "unknown target '$target' (decode, node_step, cluster)" >&2
    exit 2
    ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing it from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz needs nightly-only compiler flags; the stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1
scratch="fuzz/target/corpus/$target"
mkdir -p "$scratch" "fuzz/artifacts/$target"
# No sanitizer: the code under test forbids `unsafe`, and AddressSanitizer would only slow it
# down. Debug assertions and overflow checks on: sansraft checks its invariants with them.
# No comparison tracing: its hooks took about two thirds of the instructions executed, and the
# inputs are structured (values are drawn near the node's state), so there are few magic
# values for it to crack.
exec cargo fuzz run --sanitizer none --debug-assertions --no-trace-compares \
    "$target" "$scratch" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" \
    -max_len="$max_len" \
    -rss_limit_mb=1024 \
    -malloc_limit_mb=256 \
    -timeout=10 \
    -print_final_stats=1 \
    "$@"
