#!/usr/bin/env bash
# One command for every benchmark figure (issue 7). See BENCHMARKS.md.
#
#   scripts/bench.sh            full run: release build, moto peers from PyPI, 3 rounds, c = 1, 16, 64
#   scripts/bench.sh --smoke    seconds, not minutes: tiny N, c = 1 and 16, one round, no PyPI (CI)
#
# BENCH_REFERENCE_PLUGIN: an earlier plugin binary whose GetSecret rates the plugin section measures beside
# this build's, in the same rounds (e.g. one built before the read cache, metrics and audit log).
# BENCH_REFERENCE_EMULATOR: an earlier sm-emulator binary the servers and history sections run beside this
# build's, in the same rounds (the side-by-side table of a restructuring).
# BENCH_SECTIONS picks parts of the run (default "servers history plugin legacy": the AWS JSON servers, the
# durable emulator holding a long history, the plugin, legacy SQL and migration); the report marks what a
# partial run did not measure.
# Environment overrides: BENCH_ROUNDS, BENCH_DURATION (s per run), BENCH_N (seeded keyspace),
# BENCH_PLUGIN_N (secrets written through the plugin), BENCH_LEGACY_N, BENCH_CONCURRENCY ("1 16 64"),
# BENCH_PROFILE (release|debug), BENCH_OUT (result directory), BENCH_VENV (python venv for the peers),
# BENCH_PLUGIN (the plugin binary to measure; default: the one this build makes), BENCH_HISTORY_N (secrets
# of the history section), BENCH_HISTORY_VERSIONS (versions per secret, on average).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOKE=0
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $arg (use --smoke or nothing)" >&2; exit 2 ;;
  esac
done

if [[ $SMOKE == 1 ]]; then
  ROUNDS=${BENCH_ROUNDS:-1}; DURATION=${BENCH_DURATION:-1}; N=${BENCH_N:-50}
  PLUGIN_N=${BENCH_PLUGIN_N:-200}; LEGACY_N=${BENCH_LEGACY_N:-50}; CONCS=${BENCH_CONCURRENCY:-"1 16"}
  EQUAL_CREATE=100; EQUAL_WRITE=100; EQUAL_READ=200
  HISTORY_N=${BENCH_HISTORY_N:-200}; HISTORY_VERSIONS=${BENCH_HISTORY_VERSIONS:-3}
  PROFILE=${BENCH_PROFILE:-debug}
else
  ROUNDS=${BENCH_ROUNDS:-3}; DURATION=${BENCH_DURATION:-3}; N=${BENCH_N:-1000}
  PLUGIN_N=${BENCH_PLUGIN_N:-10000}; LEGACY_N=${BENCH_LEGACY_N:-10000}; CONCS=${BENCH_CONCURRENCY:-"1 16 64"}
  # the equal-data pass: requests after the seed (about 25 s for moto, well under 1 s for ours)
  EQUAL_CREATE=2000; EQUAL_WRITE=2000; EQUAL_READ=4000
  # issue 16's store: 100,000 secrets with 10 versions each (about two minutes of writes per build)
  HISTORY_N=${BENCH_HISTORY_N:-100000}; HISTORY_VERSIONS=${BENCH_HISTORY_VERSIONS:-10}
  PROFILE=${BENCH_PROFILE:-release}
fi

SECTIONS=" ${BENCH_SECTIONS:-servers history plugin legacy} "
REFERENCE_EMULATOR=${BENCH_REFERENCE_EMULATOR:-}
if [[ -n $REFERENCE_EMULATOR && ! -x $REFERENCE_EMULATOR ]]; then
  echo "bench.sh: BENCH_REFERENCE_EMULATOR=$REFERENCE_EMULATOR is not an executable" >&2; exit 2
fi
want() { [[ $SECTIONS == *" $1 "* ]]; }

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/$PROFILE
OUT=${BENCH_OUT:-$ROOT/target/bench/run-$(date -u +%Y%m%dT%H%M%SZ)}
VENV=${BENCH_VENV:-$ROOT/target/bench/venv}
RESULTS=$OUT/results.jsonl
LOGS=$OUT/logs
mkdir -p "$OUT" "$LOGS"
: > "$RESULTS"
PENDING=()      # target=reason, for figures this run could not measure
SERVER_PID=""

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
log "building ($PROFILE): bench, sm-emulator, secrets-broker"
if [[ $PROFILE == release ]]; then
  (cd "$ROOT" && cargo build --release -p bench -p secretsmanager-emulator -p secrets-broker) >&2
else
  # The debug binaries exactly as the test suite builds them (same features), so after
  # `cargo test --workspace --all-features` (CI) nothing is compiled again.
  (cd "$ROOT" && cargo test --workspace --all-features --no-run) >&2
fi

# ---------------------------------------------------------------- peers
HAVE_MOTO=0
if [[ $SMOKE == 0 ]] && want servers && [[ ! -x $VENV/bin/moto_server ]]; then
  log "installing moto[server], gunicorn into $VENV"
  if python3 -m venv "$VENV" >&2 && "$VENV/bin/pip" install -q 'moto[server]' gunicorn >&2; then :; else
    log "could not install the peers from PyPI"
  fi
fi
if [[ -x $VENV/bin/moto_server && -x $VENV/bin/gunicorn ]]; then
  HAVE_MOTO=1
else
  log "skipped: moto and moto+gunicorn (not installed in $VENV; the full run installs them)"
fi

# ---------------------------------------------------------------- helpers
# A free port below Linux's ephemeral range (32768-60999): after moto_server's round, which closes
# every connection, thousands of client ports sit in TIME_WAIT there, and a server asked to listen on
# one of them fails with "address already in use".
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

wait_port() { # port pid [tries [seconds between tries]]
  local i
  for ((i = 0; i < ${3:-300}; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep "${4:-0.1}"
  done
  return 1
}

# Peak RSS (VmHWM, KiB) of a process plus its direct children (gunicorn's worker).
peak_rss_kib() {
  local total=0 p v
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

rss_line() { # target kib [workload: rss (time-bound phases) | rss-equal (equal-data pass)]
  printf '{"target":"%s","workload":"%s","concurrency":0,"requests":0,"ok":0,"seconds":0,"rps":0,"p50_ms":0,"p99_ms":0,"max_ms":0,"errors":{},"extra":{"peak_rss_kib":%s}}\n' "$1" "${3:-rss}" "$2"
}

stop_server() { # pid [tenths of a second to wait for a clean exit]
  local i
  kill -INT "$1" 2>/dev/null || true
  for ((i = 0; i < ${2:-50}; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  SERVER_PID=""
}

# start_server <label> <port> <round>: starts it in the background, sets SERVER_PID.
start_server() {
  local label=$1 port=$2 round=$3
  case "$label" in
    emulator-mem) exec "$BIN/sm-emulator" --listen "127.0.0.1:$port" --in-memory ;;
    emulator-durable)
      rm -rf "$OUT/emulator-data-$round"
      exec "$BIN/sm-emulator" --listen "127.0.0.1:$port" --data-dir "$OUT/emulator-data-$round" ;;
    emulator-quota) # AWS's request quotas (about 50 writes/s)
      rm -rf "$OUT/emulator-data-$round"
      exec "$BIN/sm-emulator" --listen "127.0.0.1:$port" --data-dir "$OUT/emulator-data-$round" --aws-quotas ;;
    emulator-mem-ref) exec "$REFERENCE_EMULATOR" --listen "127.0.0.1:$port" --in-memory ;;
    emulator-durable-ref)
      rm -rf "$OUT/emulator-ref-data-$round"
      exec "$REFERENCE_EMULATOR" --listen "127.0.0.1:$port" --data-dir "$OUT/emulator-ref-data-$round" ;;
    moto) exec "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" ;;
    moto-gunicorn)
      exec "$VENV/bin/gunicorn" --no-control-socket -w 1 -k gthread --threads 16 -b "127.0.0.1:$port" \
        'moto.server:create_backend_app("secretsmanager")' ;;
    fixed) exec "$BIN/fixed-server" --listen "127.0.0.1:$port" ;;
  esac > "$LOGS/$label-$round.log" 2>&1 &
  SERVER_PID=$!
}

load() { # target port workload concurrency [extra sm-load args...]
  local target=$1 port=$2 workload=$3 c=$4
  shift 4
  "$BIN/sm-load" --endpoint "127.0.0.1:$port" --target "$target" --workload "$workload" \
    --concurrency "$c" --n "$N" --prefix key "$@" >> "$RESULTS" 2>> "$LOGS/sm-load.log" \
    || log "sm-load failed: $target $workload c=$c (see $LOGS/sm-load.log)"
}

# ---------------------------------------------------------------- machine
NPROC=$(nproc)
log "fsync cost on $OUT's filesystem (4 KiB O_DSYNC writes)"
FSYNC_COUNT=200
[[ $SMOKE == 1 ]] && FSYNC_COUNT=20
FSYNC_SECS=$(LC_ALL=C dd if=/dev/zero of="$OUT/fsync.probe" bs=4k count=$FSYNC_COUNT oflag=dsync 2>&1 \
  | awk '/copied/ {for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) print $(i-1)}')
rm -f "$OUT/fsync.probe"
FSYNC_MS=$(awk -v s="${FSYNC_SECS:-0}" -v n=$FSYNC_COUNT 'BEGIN {printf "%.3f", s * 1000 / n}')
FSYNC_RATE=$(awk -v s="${FSYNC_SECS:-0}" -v n=$FSYNC_COUNT 'BEGIN {if (s > 0) printf "%.0f", n / s; else print "n/a"}')

# PBKDF2 (10,000 rounds) per second: the cost of every legacy Grafana value, one lane vs
# interleaved lanes, one core vs all. Machine context for the legacy and migration figures.
KDF_N=400
[[ $SMOKE == 1 ]] && KDF_N=8
log "PBKDF2 rate (kdf-rate, $KDF_N derivations per measurement)"
"$BIN/kdf-rate" --n "$KDF_N" >> "$RESULTS" 2>> "$LOGS/kdf-rate.log" || log "kdf-rate failed (see $LOGS/kdf-rate.log)"

# ---------------------------------------------------------------- AWS JSON 1.1 servers
SERVERS=(fixed emulator-mem emulator-durable)
# the reference build right after this build's, so that each pair runs as neighbours
[[ -n $REFERENCE_EMULATOR ]] && SERVERS=(fixed emulator-mem emulator-mem-ref emulator-durable emulator-durable-ref)
[[ $HAVE_MOTO == 1 ]] && SERVERS+=(moto moto-gunicorn)
want servers || SERVERS=()
for ((round = 1; round <= ROUNDS; round++)); do
  for label in "${SERVERS[@]}"; do
    port=$(free_port)
    start_server "$label" "$port" "$round"
    if ! wait_port "$port" "$SERVER_PID"; then
      log "skipped: $label did not start (see $LOGS/$label-$round.log)"
      stop_server "$SERVER_PID"
      continue
    fi
    log "round $round/$ROUNDS: $label on port $port"
    # The keyspace for read/write/mixed, created once per server lifetime.
    load "$label" "$port" seed 16 --duration 0
    for c in $CONCS; do
      for w in read write mixed create; do
        load "$label" "$port" "$w" "$c" --duration "$DURATION"
      done
    done
    rss_line "$label" "$(peak_rss_kib "$SERVER_PID")" >> "$RESULTS"
    stop_server "$SERVER_PID"

    # Equal data: time-bound phases make a faster server hold more secrets and versions, so peak
    # RSS is also measured on a fresh server after the same requests for every server. Its
    # results go under "<label>@equal", outside the throughput tables.
    port=$(free_port)
    start_server "$label" "$port" "$round-equal"
    if wait_port "$port" "$SERVER_PID"; then
      load "$label@equal" "$port" seed 16 --duration 0
      load "$label@equal" "$port" create 16 --duration 0 --requests "$EQUAL_CREATE"
      load "$label@equal" "$port" write 16 --duration 0 --requests "$EQUAL_WRITE"
      load "$label@equal" "$port" read 16 --duration 0 --requests "$EQUAL_READ"
      rss_line "$label" "$(peak_rss_kib "$SERVER_PID")" rss-equal >> "$RESULTS"
    else
      log "skipped the equal-data pass: $label did not start (see $LOGS/$label-$round-equal.log)"
    fi
    stop_server "$SERVER_PID"
  done
done

# ---------------------------------------------------------------- long history
# A durable emulator writes HISTORY_N secrets (seed at c = 16) and then PutSecretValue on uniformly
# random ones at c = 64 until they hold HISTORY_VERSIONS versions on average (AWS keeps every version
# younger than a day, so a load test's history stays); then it is stopped and started again on that
# store. Figures: peak RSS while writing, seconds until the restarted server accepts connections,
# GetSecretValue at c = 16 on it (three runs one after the other, their median), and its peak RSS
# after those reads.
history_run() { # label binary
  local label=$1 bin=$2 dir=$OUT/$1-data port t0 t1
  rm -rf "$dir"
  port=$(free_port)
  "$bin" --listen "127.0.0.1:$port" --data-dir "$dir" > "$LOGS/$label-write.log" 2>&1 &
  SERVER_PID=$!
  if ! wait_port "$port" "$SERVER_PID"; then
    PENDING+=("$label=pending: the emulator did not start (see $LOGS/$label-write.log)")
    stop_server "$SERVER_PID"; return
  fi
  log "history: $label writes $HISTORY_N secrets × ≈$HISTORY_VERSIONS versions"
  local hist=(--endpoint "127.0.0.1:$port" --target "$label@write" --n "$HISTORY_N" --prefix hist --duration 0)
  "$BIN/sm-load" "${hist[@]}" --workload seed --concurrency 16 >> "$RESULTS" 2>> "$LOGS/sm-load.log" \
    || log "sm-load failed: $label seed (see $LOGS/sm-load.log)"
  "$BIN/sm-load" "${hist[@]}" --workload write --concurrency 64 \
    --requests $((HISTORY_N * (HISTORY_VERSIONS - 1))) >> "$RESULTS" 2>> "$LOGS/sm-load.log" \
    || log "sm-load failed: $label write (see $LOGS/sm-load.log)"
  rss_line "$label" "$(peak_rss_kib "$SERVER_PID")" rss-write >> "$RESULTS"
  stop_server "$SERVER_PID" 600
  # the kernel's writeback of the history (about 1.6 GB of sled files at the defaults) would
  # otherwise still be running during the restart and the reads
  sync
  port=$(free_port)
  t0=$(date +%s.%N)
  "$bin" --listen "127.0.0.1:$port" --data-dir "$dir" > "$LOGS/$label-restart.log" 2>&1 &
  SERVER_PID=$!
  if ! wait_port "$port" "$SERVER_PID" 12000 0.01; then
    PENDING+=("$label=pending: the restart did not accept connections (see $LOGS/$label-restart.log)")
    stop_server "$SERVER_PID"; return
  fi
  t1=$(date +%s.%N)
  printf '{"target":"%s","workload":"startup","concurrency":0,"requests":1,"ok":1,"seconds":%s,"rps":0,"p50_ms":0,"p99_ms":0,"max_ms":0,"errors":{},"extra":{}}\n' \
    "$label" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')" >> "$RESULTS"
  local run
  for run in 1 2 3; do # the report gives their median
    "$BIN/sm-load" --endpoint "127.0.0.1:$port" --target "$label" --n "$HISTORY_N" --prefix hist \
      --workload read --concurrency 16 --duration "$DURATION" >> "$RESULTS" 2>> "$LOGS/sm-load.log" \
      || log "sm-load failed: $label read $run (see $LOGS/sm-load.log)"
  done
  rss_line "$label" "$(peak_rss_kib "$SERVER_PID")" rss-restart >> "$RESULTS"
  stop_server "$SERVER_PID" 600
  rm -rf "$dir"
}
if want history; then
  history_run emulator-history "$BIN/sm-emulator"
  [[ -n $REFERENCE_EMULATOR ]] && history_run emulator-history-ref "$REFERENCE_EMULATOR"
fi

# ---------------------------------------------------------------- plugin
PLUGIN=${BENCH_PLUGIN:-$BIN/secrets-broker}
plugin_run() { # label n stderr-log [plugin-driver args...]
  local label=$1 n=$2 errlog=$3
  shift 3
  if ! RUST_BACKTRACE=0 "$BIN/plugin-driver" --plugin "$PLUGIN" --target "$label" --n "$n" --concurrency 16 \
      --duration "$DURATION" --stderr "$errlog" "$@" >> "$RESULTS" 2> "$LOGS/$label.driver.log"; then
    local why
    why=$(grep -m1 -A3 '^Error' "$LOGS/$label.driver.log" | tr '\n|' '  ' | tr -s ' ' | cut -c1-200)
    PENDING+=("$label=pending: plugin run failed ($why)")
    log "plugin run $label failed: $why"
    return 1
  fi
}

if want plugin; then
log "plugin, local backend: $PLUGIN_N secrets"
rm -rf "$OUT/plugin-local"
plugin_run plugin-local "$PLUGIN_N" "$LOGS/plugin-local.stderr" \
  --setting backend=local --setting "data_dir=$OUT/plugin-local" || true

# An emulator for the aws backend and the migration.
port=$(free_port)
start_server emulator-durable "$port" aws
aws_settings=()
if wait_port "$port" "$SERVER_PID"; then
  log "plugin, aws backend -> emulator on $port: $PLUGIN_N secrets"
  aws_settings=(--setting backend=aws --setting "aws_endpoint_url=http://127.0.0.1:$port"
    --setting aws_region=us-east-1 --setting aws_access_key_id=AKIDBENCH
    --setting aws_secret_access_key=bench)
  plugin_run plugin-aws "$PLUGIN_N" "$LOGS/plugin-aws.stderr" \
    "${aws_settings[@]}" --setting secret_name_prefix=bench-plugin/ || true
else
  PENDING+=("plugin-aws=pending: emulator did not start")
fi

# Issue 19's side-by-side figures: GetSecret sequential over DS data sources (Grafana's pattern:
# few secrets, read again and again), local backend with the audit log off and on
# (OBSERVE_SETTINGS), aws backend with the read cache on (its default) and off; the four run as
# neighbours in every round, so that their ratios hold on a noisy machine.
DS=10
DS_GETS=$([[ $SMOKE == 1 ]] && echo 200 || echo 5000)
OBSERVE_SETTINGS=(--setting "audit_log=$OUT/audit.log")
for ((round = 1; round <= ROUNDS; round++)); do
  log "plugin, GetSecret over $DS secrets, $DS_GETS calls (round $round/$ROUNDS): local audit off / on, aws cache on / off"
  rm -rf "$OUT/plugin-unwatched" "$OUT/plugin-watched" "$OUT/audit.log"
  plugin_run plugin-local-unwatched "$DS" "$LOGS/plugin-local-unwatched.stderr" --phases set_seq,get_seq \
    --gets "$DS_GETS" --setting backend=local --setting "data_dir=$OUT/plugin-unwatched" || true
  plugin_run plugin-local-watched "$DS" "$LOGS/plugin-local-watched.stderr" --phases set_seq,get_seq \
    --gets "$DS_GETS" --setting backend=local --setting "data_dir=$OUT/plugin-watched" \
    "${OBSERVE_SETTINGS[@]}" || true
  if [[ -n ${BENCH_REFERENCE_PLUGIN:-} ]]; then
    rm -rf "$OUT/plugin-reference"
    PLUGIN=$BENCH_REFERENCE_PLUGIN plugin_run plugin-local-reference "$DS" "$LOGS/plugin-local-reference.stderr" \
      --phases set_seq,get_seq --gets "$DS_GETS" --setting backend=local \
      --setting "data_dir=$OUT/plugin-reference" || true
  fi
  if [[ ${#aws_settings[@]} -gt 0 ]]; then
    if [[ -n ${BENCH_REFERENCE_PLUGIN:-} ]]; then
      PLUGIN=$BENCH_REFERENCE_PLUGIN plugin_run plugin-aws-reference "$DS" "$LOGS/plugin-aws-reference.stderr" \
        --phases set_seq,get_seq --gets "$DS_GETS" "${aws_settings[@]}" \
        --setting secret_name_prefix=bench-reference/ || true
    fi
    plugin_run plugin-aws-cached "$DS" "$LOGS/plugin-aws-cached.stderr" --phases set_seq,get_seq \
      --gets "$DS_GETS" "${aws_settings[@]}" --setting secret_name_prefix=bench-cached/ || true
    plugin_run plugin-aws-uncached "$DS" "$LOGS/plugin-aws-uncached.stderr" --phases set_seq,get_seq \
      --gets "$DS_GETS" "${aws_settings[@]}" --setting secret_name_prefix=bench-uncached/ \
      --setting cache_ttl=0 || true
  fi
done
[[ ${#aws_settings[@]} -gt 0 ]] && rss_line emulator-aws-backend "$(peak_rss_kib "$SERVER_PID")" >> "$RESULTS"
stop_server "$SERVER_PID"
fi

# ---------------------------------------------------------------- legacy SQL + migration
if want legacy; then
# as_line <from-target> <to-target> <to-workload>: re-labels the last GetAllSecrets line (items/s = decrypt rate).
as_line() {
  grep "\"target\":\"$1\",\"workload\":\"get_all\"" "$RESULTS" | tail -n 1 \
    | sed -e "s/\"target\":\"$1\"/\"target\":\"$2\"/" -e "s/\"workload\":\"get_all\"/\"workload\":\"$3\"/" \
      -e 's/"concurrency":1,/"concurrency":0,/' >> "$RESULTS"
}
legacy_settings() { # database-url
  echo --setting backend=legacy_sql --setting "legacy_database_url=$1" --setting legacy_create_tables=true \
    --setting "legacy_secret_key=$GRAFANA_SECRET_KEY"
}

GRAFANA_SECRET_KEY=SW2YcwTIb9zpOOhoPsMm   # Grafana's default [security] secret_key
LEGACY_DB=$OUT/legacy.db
QUOTA_DB=$OUT/legacy-quota.db
QUOTA_N=$([[ $SMOKE == 1 ]] && echo 20 || echo 1000)
rm -f "$LEGACY_DB" "$QUOTA_DB"
log "plugin, legacy_sql backend (SQLite): $LEGACY_N secrets, then GetAllSecrets (decrypt rate)"
LEGACY_OK=0
# shellcheck disable=SC2046
if plugin_run plugin-legacy "$LEGACY_N" "$LOGS/plugin-legacy.stderr" --phases set_seq,get_all \
    $(legacy_settings "sqlite://$LEGACY_DB?mode=rwc"); then
  as_line plugin-legacy legacy decrypt_sqlite
  # A smaller source for the run under the quota (at 50/s, 10,000 secrets would take minutes).
  # shellcheck disable=SC2046
  plugin_run plugin-legacy-quota-seed "$QUOTA_N" "$LOGS/plugin-legacy-quota.stderr" --phases set_seq \
    $(legacy_settings "sqlite://$QUOTA_DB?mode=rwc") && LEGACY_OK=1
else
  PENDING+=("legacy=pending: the legacy_sql plugin run failed")
fi

if command -v psql > /dev/null && psql -h 127.0.0.1 -U postgres -d test -c 'select 1' > /dev/null 2>&1; then
  PGDB=bench_$$_$RANDOM
  psql -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $PGDB" > /dev/null
  log "plugin, legacy_sql backend (PostgreSQL, database $PGDB): $LEGACY_N secrets, then GetAllSecrets"
  # shellcheck disable=SC2046
  if plugin_run plugin-legacy-pg "$LEGACY_N" "$LOGS/plugin-legacy-pg.stderr" --phases set_seq,get_all \
      $(legacy_settings "postgres://postgres@127.0.0.1:5432/$PGDB"); then
    as_line plugin-legacy-pg legacy-pg decrypt_postgres
  else
    PENDING+=("legacy-pg=pending: the legacy_sql plugin run on PostgreSQL failed")
  fi
  psql -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE $PGDB" > /dev/null || true
else
  PENDING+=("legacy-pg=not measured: no PostgreSQL at 127.0.0.1:5432")
fi

if [[ $LEGACY_OK == 1 ]] && "$PLUGIN" migrate --help > /dev/null 2>&1; then
  for mode in unthrottled quota50; do
    port=$(free_port)
    if [[ $mode == quota50 ]]; then
      start_server emulator-quota "$port" "$mode"; rate=auto; src=$QUOTA_DB; count=$QUOTA_N
    else
      start_server emulator-durable "$port" "$mode"; rate=unlimited; src=$LEGACY_DB; count=$LEGACY_N
    fi
    if ! wait_port "$port" "$SERVER_PID"; then
      PENDING+=("migrate=pending: emulator did not start"); stop_server "$SERVER_PID"; continue
    fi
    printf 'backend = "legacy_sql"\nlegacy_database_url = "sqlite://%s"\nlegacy_secret_key = "%s"\nlegacy_read_only = true\n' \
      "$src" "$GRAFANA_SECRET_KEY" > "$OUT/from-$mode.toml"
    printf 'backend = "aws"\naws_endpoint_url = "http://127.0.0.1:%s"\naws_region = "us-east-1"\naws_access_key_id = "AKIDBENCH"\naws_secret_access_key = "bench"\nsecret_name_prefix = "bench-migrate/"\n' \
      "$port" > "$OUT/to-$mode.toml"
    log "migration legacy SQLite -> emulator ($mode, $count secrets)"
    if (cd "$OUT" && "$PLUGIN" migrate --from "from-$mode.toml" --to "to-$mode.toml" --max-write-rate "$rate" \
          --progress none --report "report-$mode.json" --checkpoint "checkpoint-$mode.json") \
          > "$LOGS/migrate-$mode.log" 2>&1; then
      jq -c --arg w "$mode" '{target: "migrate", workload: $w, concurrency: 0, requests: .total,
          ok: .copied, seconds: .elapsed_secs, rps: .copied_per_sec, p50_ms: 0, p99_ms: 0, max_ms: 0,
          errors: (if .failed > 0 then {failed: .failed} else {} end), extra: {retries: .retries}}' \
        "$OUT/report-$mode.json" >> "$RESULTS"
    else
      PENDING+=("migrate=pending: migrate exited non-zero (see logs/migrate-$mode.log)")
    fi
    stop_server "$SERVER_PID"
  done
elif [[ $LEGACY_OK == 1 ]]; then
  PENDING+=("migrate=not measured: this build has no 'secrets-broker migrate'")
else
  PENDING+=("migrate=pending: no legacy SQLite source (the legacy_sql plugin run failed)")
fi
fi

# ---------------------------------------------------------------- report
pending_args=()
for p in "${PENDING[@]}"; do pending_args+=(--pending "$p"); done
concs_csv=$(echo $CONCS | tr ' ' ',')
{
  echo "## Benchmark run $(date -u +%Y-%m-%dT%H:%MZ)$([[ $SMOKE == 1 ]] && echo ' (SMOKE: not a measurement)')"
  echo
  echo "Machine: $NPROC cores ($(uname -m), $(uname -r)); fsync cost: ${FSYNC_MS} ms per 4 KiB O_DSYNC write (${FSYNC_RATE}/s)."
  echo "Parameters: $ROUNDS round(s), ${DURATION} s per run, keyspace N=$N, plugin N=$PLUGIN_N, legacy N=$LEGACY_N, profile $PROFILE."
  [[ $HAVE_MOTO == 1 ]] || echo "Peers moto / moto+gunicorn: skipped (not installed)."
  echo
  "$BIN/bench-report" "$RESULTS" --concurrency "$concs_csv" "${pending_args[@]}"
  echo "Raw results: $RESULTS"
} | tee "$OUT/table.md"
