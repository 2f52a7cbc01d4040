#!/usr/bin/env bash
# Counts the distinct cache lines (64 bytes) and pages (4 KiB) each hot-path operation touches,
# data and code apart: benches/touched.rs runs each operation warm, then once between two marker
# reads; valgrind's lackey tool traces every access; the distinct lines and pages between the
# markers are counted here. Needs valgrind. Usage: scripts/touched.sh
#
# TOUCHED_BINARY=path counts with a touched binary built before (to compare two builds: copy each
# out of target/ first). TOUCHED_LINES=name also lists, for each region whose name contains it,
# every data line with the function whose access touched it first (addr2line over the binary's
# symbols; inlined code is named after the function it was inlined into).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
binary=${TOUCHED_BINARY:-$(cargo bench -p nanotel-benches --bench touched --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "touched" and m.get("executable"):
        print(m["executable"])')}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
valgrind --tool=lackey --trace-mem=yes --log-file="$work/trace" "$binary" --touched > "$work/out"
python3 - "$work/out" "$work/trace" "$binary" "${TOUCHED_LINES:-}" <<'PY'
import subprocess, sys
out, trace, binary, listed = open(sys.argv[1]).read().split("\n"), sys.argv[2], sys.argv[3], sys.argv[4]
begin, end = (int(a, 16) for a in next(l for l in out if l.startswith("markers")).split()[1:3])
names = [l.split(" ", 1)[1] for l in out if l.startswith("region ")]
regions, current = [], None
for line in open(trace):
    parts = line.split()
    if len(parts) != 2 or parts[0] not in ("I", "L", "S", "M"):
        continue
    kind, (address, size) = parts[0], parts[1].split(",")
    address, size = int(address, 16), int(size)
    if kind == "I":
        instruction = address
    if kind == "L" and address == begin:
        current = (set(), set(), {})
        continue
    if kind == "L" and address == end and current is not None:
        regions.append(current)
        current = None
        continue
    if current is None:
        continue
    target = current[0] if kind == "I" else current[1]
    for line_start in range(address >> 6, ((address + max(size, 1) - 1) >> 6) + 1):
        if kind != "I" and line_start not in target:
            current[2][line_start] = instruction
        target.add(line_start)
print(f"{'operation':<38} {'data lines':>10} {'data pages':>10} {'code lines':>10} {'code pages':>10}")
for name, (code, data, first) in zip(names, regions):
    pages = lambda lines: len({l >> 6 for l in lines})
    print(f"{name:<38} {len(data):>10} {pages(data):>10} {len(code):>10} {pages(code):>10}")
if listed:
    # The load base: where the marker ran, less where the symbol table puts it.
    symbols = subprocess.run(["nm", binary], capture_output=True, text=True).stdout.split("\n")
    linked = next(int(l.split()[0], 16) for l in symbols if "7touched5BEGIN" in l)
    base = begin - linked
    for name, (code, data, first) in zip(names, regions):
        if listed not in name:
            continue
        print(f"\n{name}: each data line, and the function whose access touched it first")
        for line in sorted(data):
            where = subprocess.run(["addr2line", "-f", "-C", "-e", binary, hex(first[line] - base)],
                                   capture_output=True, text=True).stdout.split("\n")[0]
            print(f"  {line << 6:#014x}  {where}")
PY
