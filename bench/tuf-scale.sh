#!/bin/sh
# Reproduces the repository scale numbers: metadata bytes a device with one
# component downloads on a fresh refresh (go-tuf's updater over HTTP, root
# excluded), and the time to add, sign and publish one more patch, at
# 10,000 patches over 1,000 components and 100,000 over 10,000 (Ed25519
# file keys, 2048 hashed bins). Building the 100k repository takes a few
# minutes. Usage: bench/tuf-scale.sh [count]
set -eu
cd "$(dirname "$0")/.."
exec go test ./tuf -run '^$' -bench '^BenchmarkScale$' -benchtime "${1:-3}x" -timeout 60m
