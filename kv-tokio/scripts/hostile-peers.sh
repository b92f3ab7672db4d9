#!/usr/bin/env bash
# The hostile-peers measurement of docs/embedding.md: a 3-node cluster of release builds on
# loopback, `kv-tokio bench` against it with and without 1,000 strangers (the three kinds of
# kv-tokio/tests/hostile.rs) on the leader's peer port, alternating, ROUNDS times; the leader's
# resident memory is sampled every 100 ms. Build first:
#   cargo test --release -p kv-tokio --test hostile --no-run
# Then: kv-tokio/scripts/hostile-peers.sh [ROUNDS]   (from the repository root)
# ATTACKER_NICE=19 runs the attacker at that niceness: it then takes CPU from the cluster only
# when the cluster leaves some, which approximates an attacker on another machine (and is an
# easier case than the real one, where the attacker's packets still cost the kernel work).
set -euo pipefail
rounds=${1:-3}
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/kv-tokio
attacker=$(ls -t "$target"/release/deps/hostile-* | grep -v '\.d$' | head -1)
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
head -c 32 /dev/urandom > "$dir/secret"
peers=()
for i in 1 2 3; do peers+=(--peer "$i=127.0.0.1:1700$i,127.0.0.1:1800$i"); done
for i in 1 2 3; do
  RUST_LOG=warn "$bin" serve --id "$i" "${peers[@]}" --data-dir "$dir/data-$i" \
    --cluster-secret-file "$dir/secret" 2> "$dir/node-$i.log" &
done
leader=""
for _ in $(seq 100); do
  for i in 1 2 3; do
    if curl -s "127.0.0.1:1800$i/status" | grep -q '"role":"leader"'; then leader=$i; fi
  done
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "no leader"; exit 1; }
pid=$(pgrep -f -- "serve --id $leader .*$dir" | head -1)
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
# CPU time of process $1 so far, in clock ticks (utime + stime).
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
# 20,000 keys overwritten round robin: the map keeps its size, so memory growth is the attack's.
bench() { "$bin" bench --addr "127.0.0.1:1800$leader" --clients 16 --preload 20000 --overwrite --requests 60000 --max-seconds 20 | grep 'writes/s' | grep -v preload | tr '\n' ' '; }
# A first run warms the map and the allocator up; not reported.
bench > /dev/null
echo "leader: node $leader (pid $pid), resident $(rss) KiB after a warm-up run"
for round in $(seq "$rounds"); do
  before=$(rss)
  c0=$(cpu "$pid")
  result=$(bench)
  echo "round $round, no attack: $result resident $before -> $(rss) KiB; leader CPU $(( ($(cpu "$pid") - c0) * 1000 / hz )) ms; load average $(cut -d" " -f1-3 /proc/loadavg)"
  before=$(rss)
  KV_ATTACK_ADDR=127.0.0.1:1700$leader KV_ATTACK_CONNECTIONS=1000 KV_ATTACK_SECONDS=40 \
    nice -n "${ATTACKER_NICE:-0}" "$attacker" --exact attack_a_running_node > /dev/null 2>&1 &
  attack=$!
  peak=$before
  echo "$before" > "$dir/peak"
  ( while kill -0 $attack 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" > "$dir/peak"; sleep 0.1; done ) &
  sampler=$!
  sleep 5 # the strangers connect and the slots fill (the preload takes a few seconds more)
  conns=$(ss -tn state established "( sport = :1700$leader )" | tail -n +2 | wc -l)
  c0=$(cpu "$pid")
  a0=$(cpu "$attack")
  result=$(bench)
  leader_cpu=$(( ($(cpu "$pid") - c0) * 1000 / hz ))
  attacker_cpu=$(( ($(cpu "$attack") - a0) * 1000 / hz ))
  wait $attack || true
  wait $sampler || true
  peak=$(cat "$dir/peak" 2>/dev/null || echo "$before")
  echo "round $round, 1,000 strangers: $result resident $before -> peak $peak KiB (+$((peak - before))), $conns connections open on the peer port; leader CPU $leader_cpu ms, attacker CPU $attacker_cpu ms; load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
curl -s "127.0.0.1:1800$leader/status" | grep -o '"peer_port":{[^}]*}'
