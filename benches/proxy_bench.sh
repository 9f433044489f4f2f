#!/usr/bin/env bash
# Proxy mode, measured against going direct: `gyro load` → Erlang/OTP server,
# and `gyro load` → gyro (charging.mode = "proxy") → the same Erlang/OTP
# server, alternating, same session. Reports throughput, latency p50/p99
# and the proxy's CPU time (utime+stime from /proc) per forwarded CCR.
#
#   benches/proxy_bench.sh [RUNS] [SESSIONS] [CONCURRENCY]   (defaults: 3, 20000, 200)
#
# Needs a release build and the peers in $GYRO_PEERS_DIR or target/peers.
# Traffic stays on 127.0.0.1; every run ends by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
sessions=${2:-20000}
concurrency=${3:-200}
peers=${GYRO_PEERS_DIR:-$PWD/target/peers}
gyro=$PWD/target/release/gyro
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; return 1
}
# CPU ticks of process $1 and its threads.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { python3 -c "import json,sys;d=json.load(open('$1'));print(eval(sys.argv[1]))" "$2"; }

start_erlang() { # port -> pid
  setsid "$peers/erlang/gy_peer.escript" server --port "$1" >"$work/erlang.log" 2>&1 &
  pids+=($!)
  wait_port "$1"
}

start_proxy() { # port upstream_port -> pid in $proxy
  rm -rf "$work/data"
  sed -e "s|^listen = \"0.0.0.0:3868\"|listen = \"127.0.0.1:$1\"|" \
      -e "s|^data_dir = \"./data\"|data_dir = \"$work/data\"|" \
      -e "s|^listen = \"127.0.0.1:9464\"|listen = \"127.0.0.1:$(free_port)\"|" \
      -e "s|^listen = \"127.0.0.1:8080\"|listen = \"127.0.0.1:$(free_port)\"|" \
      -e "s|^level = \"info\"|level = \"warn\"|" \
      -e "s|^origin_host = \"gyro.test.local\"|origin_host = \"gyro-proxy.test.local\"|" \
      -e "s|^\[charging\]$|[charging]\nmode = \"proxy\"|" config/gyro.toml >"$work/gyro.toml"
  printf '\n[proxy]\ntx = "2s"\n[[proxy.upstream]]\norigin_host = "ocs.test.local"\nconnect = "127.0.0.1:%s"\npriority = 1\n' "$2" >>"$work/gyro.toml"
  setsid "$gyro" serve --config "$work/gyro.toml" >"$work/proxy.log" 2>&1 &
  proxy=$!
  pids+=($proxy)
  wait_port "$1"
  # The upstream connection (CER/CEA) comes up just after the listener.
  sleep 2
}

load() { # port json
  "$gyro" load --target "127.0.0.1:$1" --sessions "$sessions" --updates 3 \
    --connections 1 --concurrency "$concurrency" --json "$2" >"$work/load.out" 2>&1 || true
}

declare -a d_rps p_rps d_p50 p_p50 d_p99 p_p99 cpu
for r in $(seq 1 "$runs"); do
  e=$(free_port); start_erlang "$e"
  load "$e" "$work/direct.json"
  d_rps+=("$(field "$work/direct.json" "d['throughput_per_s']")")
  d_p50+=("$(field "$work/direct.json" "d['latency_ms']['p50']")")
  d_p99+=("$(field "$work/direct.json" "d['latency_ms']['p99']")")
  p=$(free_port); start_proxy "$p" "$e"
  before=$(ticks "$proxy")
  load "$p" "$work/proxy.json"
  after=$(ticks "$proxy")
  n=$(field "$work/proxy.json" "d['answers']")
  errs=$(field "$work/proxy.json" "sum(v for k, v in d['result_codes'].items() if k != '2001') + d['timeouts']")
  p_rps+=("$(field "$work/proxy.json" "d['throughput_per_s']")")
  p_p50+=("$(field "$work/proxy.json" "d['latency_ms']['p50']")")
  p_p99+=("$(field "$work/proxy.json" "d['latency_ms']['p99']")")
  cpu+=("$(python3 -c "print(round(($after-$before)/$hz*1e6/max($n,1),2))")")
  echo "run $r: direct ${d_rps[-1]} req/s p50 ${d_p50[-1]} p99 ${d_p99[-1]} ms | via proxy ${p_rps[-1]} req/s p50 ${p_p50[-1]} p99 ${p_p99[-1]} ms, $n answered ($errs not 2001), ${cpu[-1]} us proxy CPU/CCR"
  for q in "${pids[@]}"; do kill -TERM -- -"$q" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done
med() { python3 -c "import statistics,sys;print(round(statistics.median(map(float,sys.argv[1:])),3))" "$@"; }
echo
echo "median direct: $(med "${d_rps[@]}") req/s, p50 $(med "${d_p50[@]}") ms, p99 $(med "${d_p99[@]}") ms"
echo "median proxy:  $(med "${p_rps[@]}") req/s, p50 $(med "${p_p50[@]}") ms, p99 $(med "${p_p99[@]}") ms, $(med "${cpu[@]}") us CPU per forwarded CCR"
echo "throughput ratio (proxy/direct): $(python3 -c "print(round($(med "${p_rps[@]}")/$(med "${d_rps[@]}"),3))")"
