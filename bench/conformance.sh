#!/bin/sh
# Runs the public TUF client conformance suite
# (github.com/theupdateframework/tuf-conformance) against our client-under-test
# CLI, examples/conformance, fully offline, and prints the pass/fail summary
# and the names of the failing tests (with pytest's one-line cause).
#
#   bench/conformance.sh [PYTEST ARGS...]      e.g. -k test_faketime, -x, -v
#
# Sources (plain trees, used via PYTHONPATH; nothing is pip-installed):
#   CONF_CACHE        cache dir holding the three trees below
#                     (default ${XDG_CACHE_HOME:-$HOME/.cache}/patchtrust-conformance)
#   TUF_CONFORMANCE   tuf-conformance tree, newest   (default $CONF_CACHE/tuf-conformance)
#   PYTHON_TUF        python-tuf tree at v5.1.0      (default $CONF_CACHE/python-tuf)
#   SSLIB             securesystemslib at v1.4.0     (default $CONF_CACHE/securesystemslib)
# A tree that is missing is extracted (git archive) from a bare git dir, e.g.
# one the fetch tool brought to /work/.mirror:
#   TUF_CONFORMANCE_GIT (ref TUF_CONFORMANCE_REF, default HEAD)
#   PYTHON_TUF_GIT      (ref PYTHON_TUF_REF, default v5.1.0)
#   SSLIB_GIT           (ref SSLIB_REF, default v1.4.0)
# defaulting to $CONF_MIRROR/<owner>+<name>/repo, CONF_MIRROR=/work/.mirror.
#
# Host needs (Debian 12): apt-get install python3-pytest python3-requests
# python3-cryptography faketime. PYTHON (default /usr/bin/python3, Debian's
# interpreter, which sees those packages). bench/conformance/conftest_compat.py
# is loaded with -p: it adds the cryptography>=40 aliases PrivateKeyTypes /
# PublicKeyTypes that securesystemslib 1.4 imports and Debian's 38 lacks.
#
# CLIENT=/path/to/cli runs a prebuilt client-under-test instead of building
# ./examples/conformance (e.g. a reference client; the suite reads
# CLIENT.xfails next to it if present). The full pytest log is kept at
# CONF_LOG (default $TMPDIR/patchtrust-conformance.log). Exit status is
# pytest's (0 = all passed).
set -eu
cd "$(dirname "$0")/.."
REPO=$(pwd)
CONF_CACHE=${CONF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patchtrust-conformance}
CONF_MIRROR=${CONF_MIRROR:-/work/.mirror}
TUF_CONFORMANCE=${TUF_CONFORMANCE:-$CONF_CACHE/tuf-conformance}
PYTHON_TUF=${PYTHON_TUF:-$CONF_CACHE/python-tuf}
SSLIB=${SSLIB:-$CONF_CACHE/securesystemslib}
PYTHON=${PYTHON:-/usr/bin/python3}
CONF_LOG=${CONF_LOG:-${TMPDIR:-/tmp}/patchtrust-conformance.log}

# extract DIR GITDIR REF: extract GITDIR at REF into DIR unless DIR exists.
extract() {
	[ -d "$1" ] && return 0
	if [ ! -d "$2" ]; then
		echo "conformance.sh: no $1 and no git dir $2 to extract it from" >&2
		exit 2
	fi
	echo "extracting $2 @ $3 ($(git --git-dir="$2" rev-parse "$3^{commit}")) -> $1" >&2
	mkdir -p "$1.tmp"
	git --git-dir="$2" archive "$3" | tar -x -C "$1.tmp"
	mv "$1.tmp" "$1"
}
extract "$TUF_CONFORMANCE" "${TUF_CONFORMANCE_GIT:-$CONF_MIRROR/theupdateframework+tuf-conformance/repo}" "${TUF_CONFORMANCE_REF:-HEAD}"
extract "$PYTHON_TUF" "${PYTHON_TUF_GIT:-$CONF_MIRROR/theupdateframework+python-tuf/repo}" "${PYTHON_TUF_REF:-v5.1.0}"
extract "$SSLIB" "${SSLIB_GIT:-$CONF_MIRROR/secure-systems-lab+securesystemslib/repo}" "${SSLIB_REF:-v1.4.0}"
for t in "$TUF_CONFORMANCE/tuf_conformance/conftest.py" "$PYTHON_TUF/tuf/ngclient" "$SSLIB/securesystemslib/signer"; do
	[ -e "$t" ] || { echo "conformance.sh: $t missing: not the expected source tree" >&2; exit 2; }
done
command -v faketime >/dev/null || { echo "conformance.sh: faketime not installed" >&2; exit 2; }
"$PYTHON" -c 'import pytest, requests, cryptography' ||
	{ echo "conformance.sh: $PYTHON lacks pytest/requests/cryptography" >&2; exit 2; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
if [ -n "${CLIENT:-}" ]; then
	ENTRY=$(cd "$(dirname "$CLIENT")" && pwd)/$(basename "$CLIENT")
else
	GOTOOLCHAIN=${GOTOOLCHAIN:-local} go build -o "$W/conformance" ./examples/conformance
	ENTRY=$W/conformance
fi

set +e
(cd "$TUF_CONFORMANCE" &&
	PYTHONPATH="$REPO/bench/conformance:$TUF_CONFORMANCE:$PYTHON_TUF:$SSLIB" \
	PYTHONDONTWRITEBYTECODE=1 COLUMNS=${COLUMNS:-250} \
	"$PYTHON" -m pytest tuf_conformance -p conftest_compat -p no:cacheprovider \
		-q -rfE --tb=short --entrypoint "$ENTRY" "$@") >"$CONF_LOG" 2>&1
rc=$?
set -e
echo "client: $ENTRY"
echo "suite:  $TUF_CONFORMANCE (python-tuf $PYTHON_TUF, securesystemslib $SSLIB)"
echo "log:    $CONF_LOG"
grep -E '^(FAILED|ERROR) ' "$CONF_LOG" || true
# The client's stderr of each failing test (its own account of the failure).
awk '/^___* .* ___*$/ { t = $0; gsub(/^_+ | _+$/, "", t); cap = 0; next }
	/^-+ Captured stderr/ { cap = 1; next }
	/^(-+ Captured|=+ )/ { cap = 0 }
	cap && NF { print "  " t ": " $0 }' "$CONF_LOG"
tail -n 1 "$CONF_LOG"
exit $rc
