#!/usr/bin/env python3
"""Prints the costliest functions per request between two callgrind outputs of one server.

    callgrind_breakdown.py SHORT.out LONG.out REQUESTS TOP

SHORT.out and LONG.out are `valgrind --tool=callgrind` outputs of the same server after two
amounts of work, REQUESTS the number of requests between them; prints the TOP functions by
self cost per request (inlined code counted where it lands), from `callgrind_annotate`. Used by
benches/echo_peers/callgrind.sh and benches/proto_peers/callgrind.sh (BREAKDOWN=N).
"""

import collections
import re
import subprocess
import sys


def load(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    cost = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S*?):(.*?)(?: \[[^\]]*\])?$", line)
        if m and "PROGRAM TOTALS" not in line:
            cost[m.group(3).strip()] += int(m.group(1).replace(",", ""))
    return cost


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    n, top = int(sys.argv[3]), int(sys.argv[4])
    per = sorted(((b[k] - a.get(k, 0)) / n, k) for k in b)
    for v, k in reversed(per[-top:]):
        print(f"  {v:7.1f}  {k[:140]}")


if __name__ == "__main__":
    main()
