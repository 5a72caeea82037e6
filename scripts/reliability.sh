#!/usr/bin/env bash
# The reliability and security suite (RELIABILITY.md).
#
#   scripts/reliability.sh [--long] [FILTER]
#
#   (no option)  short form (what CI runs inside `cargo test --workspace`)
#   --long       long form: 50 kill -9 trials per crash test, 20,000-input random-input loops,
#                a 4,000-operation fault soak
#   FILTER       run only the suite's tests whose name contains FILTER (cargo's test-name
#                filter), e.g. `scripts/reliability.sh --long migration_kill`
#
# Sizes can also be set one by one: RELIABILITY_TRIALS, RELIABILITY_FUZZ_ITERS,
# RELIABILITY_SOAK_OPS; RELIABILITY_SEED replays a run. Each test prints a "FIGURES ..." line;
# they are collected into $CARGO_TARGET_DIR/reliability-figures.txt (or target/). Every crash
# test's line says how many of its kills landed mid-run (killed_mid_run=), and the test fails
# when too few did.
set -euo pipefail
cd "$(dirname "$0")/.."

form=short
filter=()
for arg in "$@"; do
  case "$arg" in
    --long) form=long ;;
    -*) echo "usage: $0 [--long] [FILTER]" >&2; exit 2 ;;
    *)
      if [[ ${#filter[@]} -gt 0 ]]; then echo "usage: $0 [--long] [FILTER]" >&2; exit 2; fi
      filter=("$arg")
      ;;
  esac
done
if [[ "$form" == long ]]; then
  export RELIABILITY_TRIALS="${RELIABILITY_TRIALS:-50}"
  export RELIABILITY_FUZZ_ITERS="${RELIABILITY_FUZZ_ITERS:-20000}"
  export RELIABILITY_SOAK_OPS="${RELIABILITY_SOAK_OPS:-4000}"
fi

target="${CARGO_TARGET_DIR:-target}"
out="$target/reliability-figures.txt"
log="$target/reliability-run.log"
mkdir -p "$target"
started=$(date +%s)

# sm-emulator is spawned by the broker's confidentiality test: build it first. Both builds use
# the workspace-wide feature set of `cargo test --workspace --all-features` (CI), so they reuse
# its build instead of compiling the dependency tree again with per-package features.
cargo build -q --workspace --all-features --bin sm-emulator
# The status is that of the cargo run (taken inside the group, before `tee` and `grep`, whose
# own statuses do not matter).
set +e
{
  cargo test --workspace --all-features --test reliability_emulator --test reliability_crash \
    --test reliability_soak --test reliability_hostile --test reliability_confidentiality \
    --no-fail-fast -- ${filter[@]+"${filter[@]}"} --nocapture --test-threads=2
} 2>&1 | tee "$log" | grep -E '^(test |FIGURES|test result|skipped|trial )'
status=${PIPESTATUS[0]}
set -e
if grep -q "test result: FAILED\|error: test failed\|error\[" "$log"; then status=1; fi

{
  echo "# reliability suite, $form form${filter[@]+, tests matching ${filter[*]}}, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - started )) s"
  echo "# RELIABILITY_TRIALS=${RELIABILITY_TRIALS:-default} RELIABILITY_FUZZ_ITERS=${RELIABILITY_FUZZ_ITERS:-default} RELIABILITY_SOAK_OPS=${RELIABILITY_SOAK_OPS:-default}"
  grep '^FIGURES' "$log" || true
  { grep -c '^test .* ok$' "$log" || true; } | sed 's/^/# tests passed: /'
} > "$out"
echo "figures: $out"
cat "$out"
exit "$status"
