#!/usr/bin/env python3
"""Print one tool's delta benchmark numbers as ratios to bsdiff's.

Usage: bench/ratios.py RESULTS.tsv [TOOL]   (TOOL defaults to patchtrust)

RESULTS.tsv is what shared/bench/peers.sh writes (bench/delta.sh runs it and
then this). Ratios are of medians; "code pairs" are the pairs with real code
changes over which the issue's size goal takes a geometric mean.
"""
import math
import sys

CODE_PAIRS = {
    "go1.26.7-8_compile", "go1.26.7-8_go", "go1.27.3-4_compile", "go1.27.3-4_go",
    "libxml2", "openssl_libcrypto", "openssl_libssl",
}
# arm64 pairs with code changes (ELF from the Go toolchain and Debian, Mach-O
# from npm); arm64_go1.26.7-8_go changes only its version string.
ARM64_CODE_PAIRS = {
    "arm64_go1.26.7-8_compile", "arm64_libxml2", "arm64_openssl_libcrypto",
    "arm64_openssl_libssl", "macho_arm64_libvips",
}


def main():
    path = sys.argv[1]
    tool = sys.argv[2] if len(sys.argv) > 2 else "patchtrust"
    with open(path) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    hdr = lines[0]
    by = {}
    for r in lines[1:]:
        d = dict(zip(hdr, r))
        if d.get("status") == "ok":
            by.setdefault(d["pair"], {})[d["tool"]] = d
    rows, logs, arm = [], [], []
    for pair in sorted(by):
        b, o = by[pair].get("bsdiff"), by[pair].get(tool)
        if not b or not o:
            continue
        num = lambda d, k: float(d[k])
        size = num(o, "patch_bytes") / num(b, "patch_bytes")
        if pair in CODE_PAIRS:
            logs.append(math.log(size))
        if pair in ARM64_CODE_PAIRS:
            arm.append(math.log(size))
        # A median under 10 ms is below GNU time's resolution.
        def wall(k):
            if num(b, k) <= 0.01:
                return f"— ({o[k]} vs {b[k]} s)"
            return f"{num(o, k) / num(b, k):.2f} ({o[k]} vs {b[k]} s)"
        rss = num(o, "diff_rss_mib_med") / num(b, "diff_rss_mib_med")
        rows.append(f"| {pair} | {size:.3f} | {wall('diff_wall_med')} | "
                    f"{rss:.2f} ({o['diff_rss_mib_med']} vs {b['diff_rss_mib_med']} MiB) | "
                    f"{wall('apply_wall_med')} | {o['apply_rss_mib_med']} ({b['apply_rss_mib_med']}) |")
    if not rows:
        return
    print(f"\n{tool} against bsdiff (ratios of medians; < 1 is better):\n")
    print("| pair | size × bsdiff | diff wall × bsdiff | diff peak RSS × bsdiff | apply wall × bspatch | apply peak MiB (bspatch) |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if logs:
        print(f"\nGeometric mean of size × bsdiff over the {len(logs)} x86-64 code pairs: "
              f"{math.exp(sum(logs) / len(logs)):.3f}")
    if arm:
        print(f"\nGeometric mean of size × bsdiff over the {len(arm)} arm64 code pairs: "
              f"{math.exp(sum(arm) / len(arm)):.3f}")


if __name__ == "__main__":
    main()
