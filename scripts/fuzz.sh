#!/usr/bin/env bash
# Fuzzing (not part of the test command): each cargo-fuzz target in fuzz/ (the model and
# run loader, the IDX reader, the data-set file reader, the sketch preprocessor) runs for SECONDS
# (default 600) with libFuzzer's limits: 512 MB of memory (RSS and any one allocation) and 10 s
# per input. Two run at a time (one per core). New interesting inputs are merged into
# fuzz/corpus/<target>/ (minimised); a crash leaves its input in fuzz/artifacts/<target>/. Both
# are committed and replayed by `cargo test` (crates/vae/tests/fuzz_corpus.rs). Prints one line
# per target: `FUZZ <target> runs=… seconds=… corpus=… crashes=…`; exits 1 if any target failed.
#   bash scripts/fuzz.sh [SECONDS] [TARGET…]
# No sanitizer: the code under test is safe Rust (ours has no `unsafe`; the parsers it relies on are
# safetensors and flate2's pure-Rust backend), and AddressSanitizer would double the build of Burn;
# panics, overflows (debug assertions are on), hangs and memory blow-ups are what is sought.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT/fuzz"
SECONDS_EACH="${1:-600}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(safetensors idx dataset sketch)
command -v cargo-fuzz >/dev/null || { log "installing cargo-fuzz"; cargo install cargo-fuzz; }
export RUSTC_BOOTSTRAP=1 # libFuzzer's instrumentation flags on a stable toolchain
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}"
FLAGS=(-s none --debug-assertions)
log "building the fuzz targets"
cargo fuzz build "${FLAGS[@]}"
out="$(mktemp -d)"
fuzz_one() {
  local t="$1"
  mkdir -p "corpus/$t" "artifacts/$t"
  # New inputs are added to the kept corpus, which is then minimised (the smallest set of inputs
  # that covers what the whole set covers).
  cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" \
    -rss_limit_mb=512 -malloc_limit_mb=512 -timeout=10 -print_final_stats=1 >"$out/$t.log" 2>&1
  echo $? >"$out/$t.rc"
  cargo fuzz cmin "${FLAGS[@]}" "$t" "corpus/$t" -- -rss_limit_mb=512 >/dev/null 2>&1 || true
}
running=0
for t in "${TARGETS[@]}"; do
  log "fuzzing $t for ${SECONDS_EACH} s"
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then wait -n; running=$((running - 1)); fi
done
wait
status=0
for t in "${TARGETS[@]}"; do
  rc="$(cat "$out/$t.rc")"
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' || echo '?')"
  crashes="$(find "artifacts/$t" -type f | wc -l)"
  echo "FUZZ $t runs=$runs seconds=$SECONDS_EACH corpus=$(find "corpus/$t" -type f | wc -l) crashes=$crashes exit=$rc"
  if [ "$rc" != 0 ]; then status=1; tail -40 "$out/$t.log"; fi
done
exit "$status"
