#!/usr/bin/env python3
"""Symbol bytes of an unstripped binary summed by crate, minus the same for a floor binary.

Usage (see docs/PERFORMANCE.md, Profiles):
  nm --size-sort -S -C APP > app.txt; nm --size-sort -S -C FLOOR > floor.txt
  scripts/size_by_crate.py app.txt floor.txt [ROWS]
A symbol counts for the first path segment of its name (`<T as Trait>` counts for T's crate);
C and assembly symbols are grouped by their library where the name tells.
"""
import collections
import re
import sys


def crate_of(name):
    if name.startswith("<"):
        inner = re.sub(r"^(&(mut )?|dyn |\*const |\*mut |\[)+", "", name[1:])
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", inner)
        return m.group(1) if m else "other"
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    if m:
        return m.group(1)
    if name.startswith("sqlite") or "fts" in name.lower()[:8]:
        return "SQLite (C)"
    if name.startswith(("Onig", "onig", "CR_")):
        return "Oniguruma (C)"
    if "ring_core" in name or name.startswith("ecp_"):
        return "ring (C/asm)"
    return "other C/asm"


def load(path):
    totals = collections.Counter()
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 3)
            if len(parts) == 4:
                totals[crate_of(parts[3])] += int(parts[1], 16)
    return totals


def main():
    app, floor = load(sys.argv[1]), load(sys.argv[2])
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    print(f"symbols: app {sum(app.values()) / 1e6:.2f} MB, floor {sum(floor.values()) / 1e6:.2f} MB")
    extra = {k: v - floor.get(k, 0) for k, v in app.items()}
    for crate, size in sorted(extra.items(), key=lambda kv: -kv[1])[:rows]:
        print(f"{crate:<34} {size / 1e3:6.0f} KB (floor {floor.get(crate, 0) / 1e3:4.0f} KB)")


if __name__ == "__main__":
    main()
