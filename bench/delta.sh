#!/usr/bin/env bash
# delta.sh - benchmark patchtrust's delta engine against bsdiff, xdelta3 and
# zstd --patch-from on the corpus, with the shared harness peers.sh.
#
# It builds the patchtrust CLI and runs ../shared/bench/peers.sh with
#   OURS_DIFF='patchtrust diff {old} {new} {patch}'
#   OURS_APPLY='patchtrust apply {old} {patch} {out}'
# so our tool is timed exactly as the peers are (GNU time, medians of RUNS
# runs, tools interleaved). With ENGINE=1 it also times bench/deltacli, a
# binary that links only the delta package, to show the engine's own memory
# apart from the start-up cost of the full CLI.
#
# Usage (from the repository root):
#   bench/delta.sh                     # all pairs, all tools, RUNS=3
#   PAIRS='libxml2 openssl_libssl' TOOLS='bsdiff ours' bench/delta.sh
#   ENGINE=1 bench/delta.sh
#
# Env: everything peers.sh reads (CORPUS_DIR, BENCH_OUT, PAIRS, TOOLS, RUNS,
# ...), plus PEERS (path of peers.sh, default ../shared/bench/peers.sh next to
# the repository, or /work/shared/bench/peers.sh), ENGINE, and PATCHTRUST_BIN
# (an already built patchtrust binary to time instead of building one).
# Results: $BENCH_OUT/results.md and results.tsv (default BENCH_OUT /tmp/delta-bench).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-}
if [[ -z $PEERS ]]; then
  for p in "$root/../shared/bench/peers.sh" /work/shared/bench/peers.sh; do
    [[ -x $p ]] && { PEERS=$p; break; }
  done
fi
[[ -n $PEERS && -x $PEERS ]] || { echo "peers.sh not found; set PEERS" >&2; exit 2; }
export BENCH_OUT=${BENCH_OUT:-/tmp/delta-bench}
bin=$BENCH_OUT/bin
mkdir -p "$bin"
if [[ -n ${PATCHTRUST_BIN:-} ]]; then
  cp "$PATCHTRUST_BIN" "$bin/patchtrust"
else
  # A release build: static, as Go CLIs are usually shipped. With cgo the
  # binary maps the C library too, which adds about 1.3 MiB to every run.
  (cd "$root" && CGO_ENABLED=${CGO_ENABLED:-0} GOTOOLCHAIN=${GOTOOLCHAIN:-local} go build -trimpath -o "$bin/patchtrust" ./cmd/patchtrust)
fi

OURS_NAME=${OURS_NAME:-patchtrust} \
OURS_DIFF="$bin/patchtrust diff {old} {new} {patch}" \
OURS_APPLY="$bin/patchtrust apply {old} {patch} {out}" \
  "$PEERS"

if [[ ${ENGINE:-} == 1 ]]; then
  (cd "$root" && CGO_ENABLED=${CGO_ENABLED:-0} GOTOOLCHAIN=${GOTOOLCHAIN:-local} go build -trimpath -o "$bin/deltacli" ./bench/deltacli)
  TOOLS=ours OURS_NAME=delta-engine \
  OURS_DIFF="$bin/deltacli diff {old} {new} {patch}" \
  OURS_APPLY="$bin/deltacli apply {old} {patch} {out}" \
    "$PEERS"
fi
if command -v python3 >/dev/null; then
  for t in patchtrust ${ENGINE:+delta-engine}; do
    python3 "$root/bench/ratios.py" "$BENCH_OUT/results.tsv" "$t" | tee -a "$BENCH_OUT/results.md"
  done
fi
# The floor under every "diff peak MiB" above: the peak RSS of the same
# binaries doing nothing but starting (the Go runtime, the pages of code and
# data their packages' initialisation touches).
floor() { { /usr/bin/time -f %M "$@" 2>&1 >/dev/null || true; } | tail -n 1; }
{
  printf '\nStart-up floor (peak RSS of a run that only starts and prints usage, median of 3):\n\n'
  printf '| binary | floor MiB |\n|---|---:|\n'
  for b in "$bin/patchtrust help" ${ENGINE:+"$bin/deltacli"}; do
    kib=$(for _ in 1 2 3; do floor $b; done | sort -n | sed -n 2p)
    awk -v b="${b##*/}" -v k="$kib" 'BEGIN { printf "| %s | %.1f |\n", b, k / 1024 }'
  done
} | tee -a "$BENCH_OUT/results.md"
echo "results: $BENCH_OUT/results.md" >&2
