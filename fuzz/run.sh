#!/usr/bin/env bash
# Runs one fuzz target for a bounded time on the stable toolchain.
#
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
#
# TARGET is decode, node_step or cluster. Installs cargo-fuzz if it is missing. The checked-in
# seed corpus (fuzz/corpus/TARGET) is read but never written: new inputs go to a scratch corpus
# under fuzz/target/corpus/TARGET, and a finding is saved under fuzz/artifacts/TARGET/. One
# process on one core; memory and input size are bounded. Extra flags go to libFuzzer, e.g.
# -seed=1 or -print_final_stats=1. RAFT_FUZZ_CANARY=earlier-term-commit switches a deliberate
# bug on in the cluster target (see docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    echo "usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags...]" >&2
    exit 2
fi
target=$1
seconds=$2
shift 2

case "$target" in
decode) max_len=512 ;;
node_step | cluster) max_len=8192 ;;
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
# down. Debug assertions and overflow checks on: raft-core checks its invariants with them.
exec cargo fuzz run --sanitizer none --debug-assertions "$target" "$scratch" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" \
    -max_len="$max_len" \
    -rss_limit_mb=1024 \
    -malloc_limit_mb=256 \
    -timeout=10 \
    -print_final_stats=1 \
    "$@"
