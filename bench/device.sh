#!/bin/sh
# End-to-end device benchmark over loopback HTTP on a corpus pair (default:
# the 25 MB `compile` pair of ../shared/bench/corpus.sh). Runs a device
# update (a fresh device: refresh, download, verify, apply, check, install)
# and the floor (read+hash the base, write+hash+sync the result) RUNS times
# (default 3), alternating, and prints medians, the median of the paired
# ratios, and peak RSS from /usr/bin/time -v.
#
#   [RUNS=5] bench/device.sh [OLD NEW]
set -eu
OLD=${1:-/tmp/corpus/pairs/go1.26.7-8_compile/old}
NEW=${2:-/tmp/corpus/pairs/go1.26.7-8_compile/new}
RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."
W=$(mktemp -d)
SRV=
trap 'kill $SRV 2>/dev/null || true; rm -rf "$W"' EXIT
go build -o "$W/device" ./bench/device
"$W/device" setup "$OLD" "$NEW" "$W"
"$W/device" serve "$W" "$W/url" & SRV=$!
while [ ! -s "$W/url" ]; do sleep 0.1; done
URL=$(cat "$W/url")
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
i=0
while [ $i -lt "$RUNS" ]; do
	i=$((i + 1))
	/usr/bin/time -v "$W/device" update "$W" "$URL" "$OLD" >"$W/u$i" 2>"$W/ut$i"
	/usr/bin/time -v "$W/device" floor "$OLD" "$NEW" "$W/out" >"$W/f$i" 2>"$W/ft$i"
	u=$(awk '/^update:/ {print $2}' "$W/u$i")
	f=$(awk '/^floor:/ {print $2}' "$W/f$i")
	echo "$u $f" | awk '{printf "%.3f\n", $1/$2}' >>"$W/ratios"
	echo "$u" >>"$W/us"
	echo "$f" >>"$W/fs"
	awk '/Maximum resident/ {print $6}' "$W/ut$i" >>"$W/urss"
	awk '/Maximum resident/ {print $6}' "$W/ft$i" >>"$W/frss"
	awk '/^update-cpu:/ {print $2}' "$W/u$i" >>"$W/ucpu"
	awk '/^floor-cpu:/ {print $2}' "$W/f$i" >>"$W/fcpu"
done
echo "base $(stat -c %s "$OLD") bytes, result $(stat -c %s "$NEW") bytes, $RUNS runs, medians"
printf "%-22s %12s %12s %16s\n" "" "wall (s)" "cpu (s)" "peak RSS (KiB)"
printf "%-22s %12s %12s %16s\n" "device update" "$(median <"$W/us")" "$(median <"$W/ucpu")" "$(median <"$W/urss")"
printf "%-22s %12s %12s %16s\n" "floor" "$(median <"$W/fs")" "$(median <"$W/fcpu")" "$(median <"$W/frss")"
echo "update/floor wall time, median of paired ratios: $(median <"$W/ratios") (all: $(tr '\n' ' ' <"$W/ratios"))"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
