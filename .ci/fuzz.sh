#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded time each.
#
#   FUZZ_TIME   time per target (default 20s; any -fuzztime value, e.g. 10m or 5000x)
#   FUZZ_MATCH  optional regexp: only targets whose "pkg.FuzzName" matches
#
# Targets are discovered with `go test -list`, so a new Fuzz function is run
# without editing this script. A crash fails the run; go test saves the input
# under the package's testdata/fuzz/FuzzX/ so that plain `go test` replays it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOTOOLCHAIN=local
FUZZ_TIME=${FUZZ_TIME:-20s}
FUZZ_MATCH=${FUZZ_MATCH:-}

# go test's -timeout (default 10m) also bounds fuzzing: allow the fuzz time
# plus 5 minutes for building and replaying the corpus, so a long FUZZ_TIME
# is not cut short and a hung input still ends the run.
timeout=0 # for an iteration count such as 5000x, or a compound duration
if [[ $FUZZ_TIME =~ ^([0-9]+)([smh])$ ]]; then
  n=${BASH_REMATCH[1]}
  case ${BASH_REMATCH[2]} in
    s) timeout=$((n + 300))s ;;
    m) timeout=$((n * 60 + 300))s ;;
    h) timeout=$((n * 3600 + 300))s ;;
  esac
fi
# `go test -list` prints a package's matching names, then "ok <pkg> ...".
if ! listing=$(go test -list '^Fuzz' ./... 2>&1); then
  echo "$listing"
  echo "fuzz: listing the fuzz targets failed (a package does not build)" >&2
  exit 1
fi
targets=()
pending=()
while IFS= read -r line; do
  case "$line" in
    Fuzz*) pending+=("$line") ;;
    ok*)
      pkg=$(awk '{print $2}' <<<"$line")
      for name in "${pending[@]}"; do targets+=("$pkg $name"); done
      pending=()
      ;;
  esac
done <<<"$listing"

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi

# fuzz_one runs one target. Go 1.26's fuzz coordinator can report a bare
# "context deadline exceeded" failure when a duration -fuzztime expires while
# a worker is mid-call (golang/go#75804, fixed in Go 1.27): no input failed
# and none is written. Only that exact signature, with no new file under
# testdata/fuzz/<target>/, earns a rerun, and the rerun does the same amount
# of work as a count (-fuzztime Nx, N = the executions the first run
# reported), which involves no deadline and so cannot meet the race. Any
# other failure, a written input, or a failure of the rerun fails the run.
fuzz_one() {
  local pkg=$1 name=$2 dir log before after status budget=$FUZZ_TIME n
  dir=$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name
  log=$(mktemp)
  for attempt in 1 2; do
    before=$(ls "$dir" 2>/dev/null | sort || true)
    set +e
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" -timeout "$timeout" "$pkg" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" -eq 0 ] && { rm -f "$log"; return 0; }
    after=$(ls "$dir" 2>/dev/null | sort || true)
    if [ "$attempt" -eq 1 ] && [ "$before" = "$after" ] &&
      [ "$(grep -c -- '^--- FAIL' "$log")" -eq 1 ] &&
      grep -A1 -- "^--- FAIL: $name " "$log" | tail -n 1 | grep -Eq '^[[:space:]]+context deadline exceeded$' &&
      ! grep -Eq 'Failing input written|panic:' "$log"; then
      n=$(grep -oE 'execs: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
      if [ -n "$n" ] && [ "$n" -gt 0 ]; then budget=${n}x; fi
      printf 'fuzz: %s stopped with the coordinator shutdown race (golang/go#75804), no input written; rerunning for %s\n' "$name" "$budget"
      continue
    fi
    rm -f "$log"
    return 1
  done
  rm -f "$log"
  return 1
}

failed=()
ran=0
start=$(date +%s)
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  if [ -n "$FUZZ_MATCH" ] && ! grep -Eq -- "$FUZZ_MATCH" <<<"$pkg.$name"; then
    continue
  fi
  printf '\n--- fuzz %s %s for %s (%s)\n' "$pkg" "$name" "$FUZZ_TIME" "$(date -u +%H:%M:%S)"
  ran=$((ran + 1))
  if ! fuzz_one "$pkg" "$name"; then
    failed+=("$pkg $name")
  fi
done

printf '\nfuzz: %d targets run in %ds, %d failed\n' "$ran" "$(($(date +%s) - start))" "${#failed[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED %s\n' "${failed[@]}"
  exit 1
fi
