#!/bin/sh
# End-to-end device benchmark over loopback HTTP on a corpus pair (default:
# the 25 MB `compile` pair of ../shared/bench/corpus.sh). Prints the median
# of 3 runs of a device update and of the floor (read+hash the base,
# write+hash+sync the result), with peak RSS from /usr/bin/time -v.
#
#   bench/device.sh [OLD NEW]
set -eu
OLD=${1:-/tmp/corpus/pairs/go1.26.7-8_compile/old}
NEW=${2:-/tmp/corpus/pairs/go1.26.7-8_compile/new}
cd "$(dirname "$0")/.."
W=$(mktemp -d)
SRV=
trap 'kill $SRV 2>/dev/null || true; rm -rf "$W"' EXIT
go build -o "$W/device" ./bench/device
"$W/device" setup "$OLD" "$NEW" "$W"
"$W/device" serve "$W" "$W/url" & SRV=$!
while [ ! -s "$W/url" ]; do sleep 0.1; done
URL=$(cat "$W/url")
median() { sort -n | sed -n 2p; }
for i in 1 2 3; do
	/usr/bin/time -v "$W/device" update "$W" "$URL" "$OLD" >"$W/u$i" 2>"$W/ut$i"
	/usr/bin/time -v "$W/device" floor "$OLD" "$NEW" "$W/out" >"$W/f$i" 2>"$W/ft$i"
done
u=$(cat "$W"/u? | awk '/^update:/ {print $2}' | median)
f=$(cat "$W"/f? | awk '/^floor:/ {print $2}' | median)
urss=$(cat "$W"/ut? | awk '/Maximum resident/ {print $6}' | median)
frss=$(cat "$W"/ft? | awk '/Maximum resident/ {print $6}' | median)
uwall=$(cat "$W"/ut? | awk '/Elapsed \(wall/ {print $8}' | median)
echo "base $(stat -c %s "$OLD") bytes, result $(stat -c %s "$NEW") bytes"
printf "%-28s %10s %14s\n" "" "time (s)" "peak RSS (KiB)"
printf "%-28s %10s %14s\n" "device update (in process)" "$u" "$urss"
printf "%-28s %10s %14s\n" "device process (wall)" "$uwall" ""
printf "%-28s %10s %14s\n" "floor" "$f" "$frss"
echo "ratio update/floor: $(echo "$u $f" | awk '{printf "%.2f", $1/$2}')"
