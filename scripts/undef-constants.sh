#!/usr/bin/env bash
# Finds code that copies an all-undefined constant. rustc makes a constant of a
# `MaybeUninit::uninit()` written inside a struct literal; where the rest of the value does not
# overwrite it, the machine code copies that constant (zeroes in read-only data) on every call:
# the log record builder did so with 386 bytes per record until session 24 (benches/README.md,
# Logs). Emits the LLVM IR of each bench named (nanotel's hot paths are inlined there, as in a
# user's program) and of the library, and lists every function that uses an all-`undef` global.
# Exits 1 if there is one. Usage: scripts/undef-constants.sh [bench ...] (default: trace metrics
# logs cold). Release builds: minutes each on two cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(trace metrics logs cold)
files=()
for bench in "${benches[@]}"; do
  cargo rustc -q --release -p nanotel-benches --bench "$bench" -- --emit=llvm-ir
  # The newest: cargo reruns rustc only when something changed, and then rewrites it.
  files+=("$(ls -t target/release/deps/"$bench"-*.ll | head -n 1)")
done
cargo rustc -q --release --lib --all-features -- --emit=llvm-ir
files+=("$(ls -t target/release/deps/nanotel-*.ll | head -n 1)")
python3 - "${files[@]}" <<'PY'
import re, sys
found = 0
for path in sys.argv[1:]:
    lines = open(path).read().split("\n")
    undefined = {m.group(1) for m in (re.match(r"^(@[\w.$]+) = .*constant \[\d+ x i8\] undef", l) for l in lines) if m}
    uses = re.compile("|".join(re.escape(name) + r"\b" for name in undefined)) if undefined else None
    function, users = None, {}
    for line in lines:
        if line.startswith("define "):
            match = re.search(r'@("[^"]+"|[^(\s]+)\(', line)
            function = match.group(1) if match else line[:80]
        elif uses and not line.startswith("@") and uses.search(line):
            users[function] = users.get(function, 0) + 1
    print(f"{path}: {len(undefined)} all-undef constants, {len(users)} functions using them")
    for name, count in sorted(users.items()):
        print(f"  {count:>3}  {name}")
    found += len(users)
sys.exit(1 if found else 0)
PY
