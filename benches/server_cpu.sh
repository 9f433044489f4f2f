#!/usr/bin/env bash
# Server efficiency, side by side: the CPU time (utime+stime from /proc, every
# process of the server's session) that a Gy server spends per answered CCR
# under one fixed `gyro load` run, for gyro, the Erlang/OTP diameter server
# and the freeDiameter server of ../shared/peers. The load generator shares
# the machine's cores, so wall-clock throughput would measure both; CPU time
# of the server alone does not.
#
#   [SERVERS="gyro erlang freediameter"] [GYRO_SERVER_BIN=path/to/gyro] \
#   benches/server_cpu.sh [RUNS] [SESSIONS]      (defaults: 3, 40000)
#
# Needs a release build (cargo build --release) and the peers installed in
# $GYRO_PEERS_DIR or target/peers. Traffic goes to 127.0.0.1 only and every
# run ends by itself. Prints one line per run and the median per server.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
sessions=${2:-40000}
peers=${GYRO_PEERS_DIR:-$PWD/target/peers}
gyro=$PWD/target/release/gyro
# The gyro server to measure (a baseline build, say, with GYRO_CONFIG its
# config/gyro.toml); the load is always this tree's.
server=${GYRO_SERVER_BIN:-$gyro}
work=$(mktemp -d)
trap 'kill -- -$srv 2>/dev/null || true; rm -rf "$work"' EXIT
srv=0

hz=$(getconf CLK_TCK)
# CPU ticks of every process in session $1.
ticks() {
  local total=0 f line rest
  for f in /proc/[0-9]*/stat; do
    line=$(cat "$f" 2>/dev/null) || continue
    rest=${line##*) }
    # Fields after the command: state ppid pgrp session ... utime(14) stime(15).
    set -- $rest
    if [ "$4" = "$SESSION" ]; then total=$((total + ${12} + ${13})); fi
  done
  echo "$total"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2
  return 1
}

start() { # name port -> sets srv (session leader pid)
  local name=$1 port=$2
  case $name in
    gyro)
      rm -rf "$work/data"
      sed -e "s|^listen = \"0.0.0.0:3868\"|listen = \"127.0.0.1:$port\"|" \
          -e "s|^data_dir = \"./data\"|data_dir = \"$work/data\"|" \
          -e "s|^listen = \"127.0.0.1:9464\"|listen = \"127.0.0.1:$(free_port)\"|" \
          -e "s|^listen = \"127.0.0.1:8080\"|listen = \"127.0.0.1:$(free_port)\"|" \
          -e "s|^level = \"info\"|level = \"warn\"|" "${GYRO_CONFIG:-config/gyro.toml}" >"$work/gyro.toml"
      setsid "$server" serve --config "$work/gyro.toml" >"$work/$name.log" 2>&1 &
      ;;
    erlang)
      setsid "$peers/erlang/gy_peer.escript" server --port "$port" >"$work/$name.log" 2>&1 &
      ;;
    freediameter)
      setsid "$peers/freediameter/fd_peer.sh" server --port "$port" --verbose 0 --quiet >"$work/$name.log" 2>&1 &
      ;;
  esac
  srv=$!
  wait_port "$port"
  sleep 1
}

declare -A results
for name in ${SERVERS:-gyro erlang freediameter}; do
  for r in $(seq 1 "$runs"); do
    port=$(free_port)
    start "$name" "$port"
    SESSION=$srv
    before=$(ticks)
    "$gyro" load --target "127.0.0.1:$port" --sessions "$sessions" --updates 3 \
      --connections 1 --json "$work/load.json" >"$work/load.out" 2>&1 || true
    after=$(ticks)
    kill -TERM -- -"$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    answered=$(python3 -c "import json;d=json.load(open('$work/load.json'));print(d.get('answers',0))")
    us=$(python3 -c "print(round(($after-$before)/$hz*1e6/max($answered,1),2))")
    rps=$(python3 -c "import json;d=json.load(open('$work/load.json'));print(round(d.get('throughput_per_s',0)))")
    echo "$name run $r: $answered answered, $((after-before)) ticks, $us us CPU/CCR, $rps req/s"
    results[$name]+="$us "
  done
done
echo
for name in ${SERVERS:-gyro erlang freediameter}; do
  med=$(python3 -c "import statistics,sys;print(statistics.median(map(float,sys.argv[1:])))" ${results[$name]})
  echo "median $name: $med us CPU per answered CCR"
done
