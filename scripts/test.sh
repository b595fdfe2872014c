#!/usr/bin/env bash
# The whole suite on a two-core machine: the PostGIS shard and the rest side by side, then the
# tests that judge timing alone (see `--shard` in tests/conftest.py). Extra arguments go to
# every pytest run. Exit status: non-zero if any shard failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
LOGS=var/test
mkdir -p "$LOGS"

"$BIN/pytest" --shard=postgis "$@" >"$LOGS/postgis.log" 2>&1 &
postgis_pid=$!
echo "== shard rest (the PostGIS shard runs beside it: $LOGS/postgis.log)"
"$BIN/pytest" --shard=rest "$@"
rest=$?
wait "$postgis_pid"
postgis=$?
echo "== shard postgis"
cat "$LOGS/postgis.log"
echo "== shard alone"
"$BIN/pytest" --shard=alone "$@"
alone=$?
# 5 = nothing collected (e.g. a -k filter that selects nothing in a shard): not a failure.
status=0
for code in "$rest" "$postgis" "$alone"; do
    if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then status=1; fi
done
echo "== shards: rest=$rest postgis=$postgis alone=$alone"
exit "$status"
