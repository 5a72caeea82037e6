#!/usr/bin/env bash
# The reliability and security suite (RELIABILITY.md).
#
#   scripts/reliability.sh           short form (what CI runs inside `cargo test --workspace`)
#   scripts/reliability.sh --long    long form: 50 kill -9 trials per crash test, 20,000-input
#                                    random-input loops, a 4,000-operation fault soak
#
# Sizes can also be set one by one: RELIABILITY_TRIALS, RELIABILITY_FUZZ_ITERS,
# RELIABILITY_SOAK_OPS; RELIABILITY_SEED replays a run. Each test prints a "FIGURES ..." line;
# they are collected into $CARGO_TARGET_DIR/reliability-figures.txt (or target/).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--long" ]]; then
  export RELIABILITY_TRIALS="${RELIABILITY_TRIALS:-50}"
  export RELIABILITY_FUZZ_ITERS="${RELIABILITY_FUZZ_ITERS:-20000}"
  export RELIABILITY_SOAK_OPS="${RELIABILITY_SOAK_OPS:-4000}"
  form=long
elif [[ -n "${1:-}" ]]; then
  echo "usage: $0 [--long]" >&2
  exit 2
else
  form=short
fi

target="${CARGO_TARGET_DIR:-target}"
out="$target/reliability-figures.txt"
log="$target/reliability-run.log"
mkdir -p "$target"
started=$(date +%s)

# sm-emulator is spawned by the broker's confidentiality test: build it first.
cargo build -q -p secretsmanager-emulator --bin sm-emulator
{
  cargo test -p secretsmanager-emulator --test reliability_emulator -- --nocapture --test-threads=2
  cargo test -p secrets-broker --test reliability_crash --test reliability_soak \
    --test reliability_hostile --test reliability_confidentiality -- --nocapture --test-threads=2
} 2>&1 | tee "$log" | grep -E '^(test |FIGURES|test result|skipped)' || true
status=${PIPESTATUS[0]}
if grep -q "test result: FAILED\|error: test failed\|error\[" "$log"; then status=1; fi

{
  echo "# reliability suite, $form form, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - started )) s"
  echo "# RELIABILITY_TRIALS=${RELIABILITY_TRIALS:-default} RELIABILITY_FUZZ_ITERS=${RELIABILITY_FUZZ_ITERS:-default} RELIABILITY_SOAK_OPS=${RELIABILITY_SOAK_OPS:-default}"
  grep '^FIGURES' "$log" || true
  grep -c '^test .* ok$' "$log" | sed 's/^/# tests passed: /'
} > "$out"
echo "figures: $out"
cat "$out"
exit "$status"
