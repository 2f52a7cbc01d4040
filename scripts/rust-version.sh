#!/usr/bin/env bash
# Checks that Cargo.toml's `rust-version` is at least what every crate the library builds with
# declares (its normal and build dependencies on x86_64 Linux, all features, as the lockfile pins
# them): the MSRV a user of the library needs. Only one toolchain can be installed here, so the
# declared version is derived from the lockfile rather than built with. Prints the needed version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deps=$(cargo tree -p nanotel -e normal,build --all-features --target x86_64-unknown-linux-gnu --prefix none --locked \
  | awk '{print $1 " " $2}' | sort -u)
cargo metadata --format-version 1 --locked | DEPS="$deps" python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
deps = {tuple(line.split()) for line in os.environ["DEPS"].splitlines() if line.strip()}
version = lambda text: tuple(int(part) for part in text.split("."))
declared = next(p for p in meta["packages"] if p["name"] == "nanotel")["rust_version"]
needed = max(((version(p["rust_version"]), p["name"]) for p in meta["packages"]
              if (p["name"], "v" + p["version"]) in deps and p.get("rust_version")
              and p["id"] not in meta["workspace_members"]), default=((0,), "none"))
shown = ".".join(map(str, needed[0]))
print(f"rust-version {declared}; the locked dependencies need {shown} ({needed[1]})")
if version(declared) < needed[0]:
    sys.exit("rust-version is below what the locked dependencies need: raise it in Cargo.toml")
'
