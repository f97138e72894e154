#!/usr/bin/python3
"""Records scipy's Mann-Whitney U results as test data for internal/stats.

Run it from this directory with Debian's python3-scipy installed:

    /usr/bin/python3 mannwhitney.py > mannwhitney.json

CI does not run it: the Go tests only read the recorded JSON.

For each case it records U of x and the p-value of every alternative by
the exact and the asymptotic method (exact only for samples below 50
without ties: scipy's exact method is slow for large ones and wrong with
ties), and, for the Hodges-Lehmann interval of x - y at 95%, the
R semantics of wilcox.test(conf.int=TRUE) computed from scipy's own
exact distribution of U: k is the smallest u with P(U <= u) >= 0.025
(at least 1), and the interval is the k-th smallest and k-th largest of
the sorted pairwise differences.
"""
import json
import random

import numpy as np
import scipy
from scipy.stats import mannwhitneyu
from scipy.stats import _mannwhitneyu as mwu_private

rnd = random.Random(17)


def normal(n, mu, sd):
    return [round(rnd.gauss(mu, sd), 6) for _ in range(n)]


cases = [
    ("tiny-1-1", [1.0], [2.0]),
    ("tiny-1-3", [5.0], [1.0, 2.0, 3.0]),
    ("tiny-2-3", [0.5, 3.5], [1.0, 2.0, 3.0]),
    ("tiny-3-3-separated", [10.0, 11.0, 12.0], [1.0, 2.0, 3.0]),
    ("small-no-ties", [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46],
     [1.15, 0.88, 0.90, 0.74, 1.21]),
    ("ties", [1, 2, 2, 3, 3, 3, 4], [2, 3, 4, 4, 5, 5]),
    ("ties-across", [0.0, 0.0, 0.0, 0.01, 0.0], [0.0, 0.0, 0.02, 0.03, 0.01, 0.04]),
    ("constant-same", [1.0] * 6, [1.0] * 6),
    ("constant-different", [2.0] * 5, [1.0] * 5),
    ("identical", [3.1, 0.4, 1.5, 9.2, 6.5], [3.1, 0.4, 1.5, 9.2, 6.5]),
    ("medium-shift", normal(21, 1.3, 0.2), normal(21, 1.0, 0.2)),
    ("medium-equal", normal(21, 1.0, 0.2), normal(21, 1.0, 0.2)),
    ("unequal-sizes", normal(12, 5.0, 1.0), normal(30, 5.5, 1.0)),
    ("large", normal(200, 10.0, 3.0), normal(180, 10.5, 3.0)),
    ("large-rounded-ties", [round(v) for v in normal(150, 10.0, 3.0)],
     [round(v) for v in normal(160, 11.0, 3.0)]),
]

out = {"scipy": scipy.__version__, "cases": []}
for name, x, y in cases:
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    ties = len(set(x + y)) < len(x) + len(y)
    case = {"name": name, "x": x, "y": y, "ties": ties, "results": []}
    small = len(x) < 50 and len(y) < 50
    for method in (["exact", "asymptotic"] if small and not ties else ["asymptotic"]):
        for alt in ("two-sided", "greater", "less"):
            r = mannwhitneyu(x, y, alternative=alt, method=method)
            p = float(r.pvalue)
            case["results"].append({"method": method, "alternative": alt,
                                    "u": float(r.statistic), "p": None if np.isnan(p) else p})
    if small and not ties:
        n1, n2 = len(x), len(y)
        diffs = sorted(a - b for a in x for b in y)
        k = 0
        while mwu_private._mwu_state.cdf(k, n1, n2) < 0.025:
            k += 1
        k = max(k, 1)
        case["hl"] = {"confidence": 0.95, "estimate": float(np.median(diffs)),
                      "low": diffs[k - 1], "high": diffs[len(diffs) - k]}
    out["cases"].append(case)

try:
    mannwhitneyu([], [1.0, 2.0])
    out["emptyRaises"] = False
except ValueError:
    out["emptyRaises"] = True

print(json.dumps(out, indent=1))
