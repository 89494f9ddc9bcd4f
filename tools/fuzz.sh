#!/usr/bin/env bash
# Coverage-guided fuzzing of orbit's file readers with libFuzzer (clang), under ASan and UBSan.
#   bash tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#   ORBIT_FUZZ_MERGE=1 bash tools/fuzz.sh ...               (then merge new coverage into tests/fuzz/corpus)
# The targets and their properties: tests/fuzz/README.md. Builds into build-fuzz/; each target's
# working corpus is build-fuzz/corpus/<target> (seeded from tests/fuzz/corpus/<target>), inputs that
# break a property land in build-fuzz/crashes/<target>/. Exit status 1 when any target found one.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
command -v clang++ >/dev/null || { echo "fuzz.sh: needs clang++ (Debian: clang, libclang-rt-dev)" >&2; exit 2; }
cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in build-fuzz/fuzz_*; do targets+=("${f#build-fuzz/fuzz_}"); done
fi
status=0
for t in "${targets[@]}"; do
  [ -x "build-fuzz/fuzz_$t" ] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
  work=build-fuzz/corpus/$t crashes=build-fuzz/crashes/$t
  mkdir -p "$work" "$crashes"
  [ -d "tests/fuzz/corpus/$t" ] && cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  echo "== $t: ${secs} s"
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "build-fuzz/fuzz_$t" "$work" -max_total_time="$secs" \
      -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
      >"build-fuzz/$t.log" 2>&1; then
    echo "fuzz.sh: $t broke a property or crashed: $(ls "$crashes" | head -3) (log: build-fuzz/$t.log)"
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::new_units_added" "build-fuzz/$t.log" | tr '\n' ' '
  echo
  if [ "${ORBIT_FUZZ_MERGE:-0}" = 1 ]; then
    mkdir -p "tests/fuzz/corpus/$t"
    "build-fuzz/fuzz_$t" -merge=1 "tests/fuzz/corpus/$t" "$work" >/dev/null 2>&1
  fi
done
exit $status
