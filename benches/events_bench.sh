#!/usr/bin/env bash
# Event delivery, measured:
#  1. events delivered per second to Debian's `webhook` daemon on loopback:
#     N onboardings queue N Account/New events while the receiver is down,
#     then the receiver starts and the clock runs until all are delivered;
#  2. the CCA latency of `gyro load` against gyro with no webhook, and with a
#     dead one (a listener that accepts and never answers, so every attempt
#     waits its whole timeout), while onboardings keep adding events;
#     alternating, same session.
#
#   benches/events_bench.sh [RUNS] [EVENTS] [SESSIONS]   (defaults: 3, 2000, 20000)
#
# Needs a release build and the `webhook` package. Traffic stays on
# 127.0.0.1; every run ends by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
events=${2:-2000}
sessions=${3:-20000}
gyro=$PWD/target/release/gyro
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
token=gyro-dev-token

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; return 1
}
field() { python3 -c "import json,sys;d=json.load(open('$1'));print(eval(sys.argv[1]))" "$2"; }
metric() { # metrics_port name -> value summed over labels
  curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 ~ "^"n"({|$)" {s += $2} END {print s + 0}'
}

start_gyro() { # tail-file -> sets port api metrics gyro_pid
  rm -rf "$work/data"
  port=$(free_port); api=$(free_port); metrics=$(free_port)
  sed -e "s|^listen = \"0.0.0.0:3868\"|listen = \"127.0.0.1:$port\"|" \
      -e "s|^data_dir = \"./data\"|data_dir = \"$work/data\"|" \
      -e "s|^listen = \"127.0.0.1:9464\"|listen = \"127.0.0.1:$metrics\"|" \
      -e "s|^listen = \"127.0.0.1:8080\"|listen = \"127.0.0.1:$api\"|" \
      -e "s|^level = \"info\"|level = \"error\"|" config/gyro.toml >"$work/gyro.toml"
  cat "$1" >>"$work/gyro.toml"
  setsid "$gyro" serve --config "$work/gyro.toml" >"$work/gyro.log" 2>&1 &
  gyro_pid=$!
  pids+=($gyro_pid)
  wait_port "$port"; wait_port "$api"
}

stop_all() {
  for q in "${pids[@]}"; do kill -TERM -- -"$q" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

onboard() { # count
  for _ in $(seq 1 "$1"); do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d '{"product": "Balkan Traveller 10-Day Pass"}' "http://127.0.0.1:$api/api/v1/accounts" || break
  done
}

start_receiver() { # port
  mkdir -p "$work/hook"
  cat >"$work/hook/hooks.json" <<EOF
[{"id": "gyro", "execute-command": "/bin/true", "include-command-output-in-response": true,
  "http-methods": ["POST"],
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "bench-secret",
                             "parameter": {"source": "header", "name": "X-Gyro-Signature-256"}}}}]
EOF
  setsid webhook -hooks "$work/hook/hooks.json" -ip 127.0.0.1 -port "$1" >"$work/hook/log" 2>&1 &
  pids+=($!)
  wait_port "$1"
}

start_blackhole() { # port: accepts, reads, never answers
  setsid python3 -c '
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$1" >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$1"
}

med() { python3 -c "import statistics,sys;print(round(statistics.median(map(float,sys.argv[1:])),3))" "$@"; }

echo "== 1. delivery rate to the webhook daemon ($events events, concurrency 4)"
declare -a rate
for r in $(seq 1 "$runs"); do
  hp=$(free_port)
  printf '\n[events]\nbackoff_initial = "50ms"\nbackoff_max = "200ms"\nmax_attempts = 1000\n[[events.webhook]]\nname = "bench"\nurl = "http://127.0.0.1:%s/hooks/gyro"\nsecret = "bench-secret"\n' "$hp" >"$work/tail.toml"
  start_gyro "$work/tail.toml"
  onboard "$events"
  total=$(( events + 2 ))
  t0=$(date +%s.%N)
  start_receiver "$hp"
  until [ "$(metric "$metrics" gyro_events_delivered_total)" -ge "$total" ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  rate+=("$(python3 -c "print(round($total/($t1-$t0),1))")")
  echo "run $r: $total events delivered in $(python3 -c "print(round($t1-$t0,2))") s: ${rate[-1]} events/s"
  stop_all
done
echo "median: $(med "${rate[@]}") events/s"

echo
echo "== 2. CCA latency, no webhook vs a dead one, onboardings alongside ($sessions sessions)"
declare -a n_p50 n_p99 d_p50 d_p99 n_rps d_rps
run_load() { # tail-file json
  start_gyro "$1"
  onboard 100000 &
  local ob=$!
  "$gyro" load --target "127.0.0.1:$port" --sessions "$sessions" --updates 3 \
    --connections 4 --concurrency 200 --json "$2" >"$work/load.out" 2>&1 || true
  kill "$ob" 2>/dev/null || true; wait "$ob" 2>/dev/null || true
  pending=$(metric "$metrics" gyro_events_pending)
  stop_all
}
for r in $(seq 1 "$runs"); do
  : >"$work/none.toml"
  run_load "$work/none.toml" "$work/none.json"
  n_p50+=("$(field "$work/none.json" "d['latency_ms']['p50']")")
  n_p99+=("$(field "$work/none.json" "d['latency_ms']['p99']")")
  n_rps+=("$(field "$work/none.json" "d['throughput_per_s']")")
  bp=$(free_port); start_blackhole "$bp"
  printf '\n[[events.webhook]]\nname = "dead"\nurl = "http://127.0.0.1:%s/hooks/gyro"\nsecret = "bench-secret"\ntimeout = "10s"\n' "$bp" >"$work/dead.toml"
  run_load "$work/dead.toml" "$work/dead.json"
  d_p50+=("$(field "$work/dead.json" "d['latency_ms']['p50']")")
  d_p99+=("$(field "$work/dead.json" "d['latency_ms']['p99']")")
  d_rps+=("$(field "$work/dead.json" "d['throughput_per_s']")")
  echo "run $r: no hook p50 ${n_p50[-1]} p99 ${n_p99[-1]} ms ${n_rps[-1]} req/s | dead hook p50 ${d_p50[-1]} p99 ${d_p99[-1]} ms ${d_rps[-1]} req/s ($pending events pending at the end)"
done
echo "median no hook:   p50 $(med "${n_p50[@]}") ms, p99 $(med "${n_p99[@]}") ms, $(med "${n_rps[@]}") req/s"
echo "median dead hook: p50 $(med "${d_p50[@]}") ms, p99 $(med "${d_p99[@]}") ms, $(med "${d_rps[@]}") req/s"
echo "p99 ratio (dead/none): $(python3 -c "print(round($(med "${d_p99[@]}")/$(med "${n_p99[@]}"),3))")"
