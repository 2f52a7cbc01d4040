#!/usr/bin/env python3
"""Shrinks fuzz/corpus/<target>/ to a small set that keeps the corpus's edge coverage.

`cargo fuzz cmin` keeps one file per new coverage *feature* (hit-count buckets included), which
leaves hundreds of files per target. This keeps every hand-made seed (the files seeds.py names),
then adds fuzzer-found files greedily, each time the one reaching the most edges not yet covered
(the smaller on a tie), until nothing new is covered or the target holds --max files.

Needs the target built first (`RUSTC_BOOTSTRAP=1 cargo fuzz build`). Usage, from fuzz/:
    python3 trim_corpus.py [--max 200] TARGET...
"""

import argparse
import pathlib
import re
import subprocess
import tempfile

FUZZ = pathlib.Path(__file__).resolve().parent
BINARIES = FUZZ / "target" / "x86_64-unknown-linux-gnu" / "release"
# libFuzzer names the files it saves by their SHA-1; anything else is a hand-made seed.
FOUND_BY_FUZZER = re.compile(r"[0-9a-f]{40}")


def edges_per_file(target, corpus):
    """Runs a libFuzzer merge only to read its control file: file path -> set of edges."""
    with tempfile.TemporaryDirectory() as scratch:
        control = pathlib.Path(scratch) / "control"
        output = pathlib.Path(scratch) / "out"
        output.mkdir()
        subprocess.run(
            [BINARIES / target, "-merge=1", "-use_counters=0", f"-merge_control_file={control}", output, corpus],
            check=True,
            capture_output=True,
        )
        lines = control.read_text().splitlines()
    count = int(lines[0])
    paths = [pathlib.Path(path) for path in lines[2 : 2 + count]]
    edges = {path: set() for path in paths}
    for line in lines[2 + count :]:
        if line.startswith("COV "):
            _, index, *covered = line.split()
            edges[paths[int(index)]] = set(covered)
    return edges


def trim(target, limit):
    corpus = FUZZ / "corpus" / target
    edges = edges_per_file(target, corpus)
    seeds = [path for path in edges if not FOUND_BY_FUZZER.fullmatch(path.name)]
    kept = set(seeds)
    covered = set().union(*(edges[path] for path in seeds))
    candidates = [path for path in edges if path not in kept]
    while len(kept) < limit:
        best = max(candidates, key=lambda path: (len(edges[path] - covered), -path.stat().st_size), default=None)
        if best is None or not edges[best] - covered:
            break
        kept.add(best)
        covered |= edges[best]
        candidates.remove(best)
    everything = set().union(*edges.values())
    for path in edges:
        if path not in kept:
            path.unlink()
    print(f"{target}: kept {len(kept)} of {len(edges)} files ({len(seeds)} seeds), {len(covered)} of {len(everything)} edges")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=200, help="most files kept per target")
    parser.add_argument("targets", nargs="+")
    arguments = parser.parse_args()
    for target in arguments.targets:
        trim(target, arguments.max)


if __name__ == "__main__":
    main()
