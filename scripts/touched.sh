#!/usr/bin/env bash
# Counts the distinct cache lines (64 bytes) and pages (4 KiB) each hot-path operation touches,
# data and code apart: benches/touched.rs runs each operation warm, then once between two marker
# reads; valgrind's lackey tool traces every access; the distinct lines and pages between the
# markers are counted here. Needs valgrind. Usage: scripts/touched.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
binary=$(cargo bench -p nanotel-benches --bench touched --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "touched" and m.get("executable"):
        print(m["executable"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
valgrind --tool=lackey --trace-mem=yes --log-file="$work/trace" "$binary" --touched > "$work/out"
python3 - "$work/out" "$work/trace" <<'PY'
import sys
out, trace = open(sys.argv[1]).read().split("\n"), sys.argv[2]
begin, end = (int(a, 16) for a in next(l for l in out if l.startswith("markers")).split()[1:3])
names = [l.split(" ", 1)[1] for l in out if l.startswith("region ")]
regions, current = [], None
for line in open(trace):
    parts = line.split()
    if len(parts) != 2 or parts[0] not in ("I", "L", "S", "M"):
        continue
    kind, (address, size) = parts[0], parts[1].split(",")
    address, size = int(address, 16), int(size)
    if kind == "L" and address == begin:
        current = (set(), set())
        continue
    if kind == "L" and address == end and current is not None:
        regions.append(current)
        current = None
        continue
    if current is None:
        continue
    target = current[0] if kind == "I" else current[1]
    for line_start in range(address >> 6, ((address + max(size, 1) - 1) >> 6) + 1):
        target.add(line_start)
print(f"{'operation':<34} {'data lines':>10} {'data pages':>10} {'code lines':>10} {'code pages':>10}")
for name, (code, data) in zip(names, regions):
    pages = lambda lines: len({l >> 6 for l in lines})
    print(f"{name:<34} {len(data):>10} {pages(data):>10} {len(code):>10} {pages(code):>10}")
PY
