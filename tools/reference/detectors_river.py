"""Detection indices of river 0.26.0's ADWIN, PageHinkley and DDM on pinned streams, for
mlops-drift/tests/streaming.rs (`river_*` tests).

Every stream is built from the 64-bit LCG of drift_reference.py, which the Rust test
re-implements bit for bit (`lcg_uniform`), so both sides see identical inputs.

Usage:
    python3 -m venv /work/venv-river
    /work/venv-river/bin/pip install -r tools/reference/requirements-river.txt
    /work/venv-river/bin/python tools/reference/detectors_river.py

river 0.26.0 needs Python >= 3.12 for one typing construct in `river.stream`
(`csv.DictReader["FeatureName"]`); on 3.11 this script makes `csv.DictReader` subscriptable
before importing river. The detectors do not touch `csv`.
"""
import csv
import json
import sys

if not hasattr(csv.DictReader, "__class_getitem__"):
    csv.DictReader.__class_getitem__ = classmethod(lambda cls, item: cls)

import river  # noqa: E402
from river import drift  # noqa: E402

MASK = (1 << 64) - 1


def lcg_uniform(seed, n):
    x = seed & MASK
    out = []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & MASK
        out.append(((x >> 11) + 0.5) / 9007199254740992.0)
    return out


# name -> (seed, n, value(i, u)); the same closures are in the Rust test.
ADWIN = {
    "bits_0.2_to_0.6_at_2000": (3, 4000, lambda i, u: float(u < (0.2 if i < 2000 else 0.6))),
    "mean_0_to_1.5_at_3000": (11, 6000, lambda i, u: u + (1.5 if i >= 3000 else 0.0)),
    "bits_0.3_noise": (4, 4000, lambda i, u: float(u < 0.3)),
    "up_0.5_at_3000_down_at_6000": (12, 9000, lambda i, u: u + (0.5 if 3000 <= i < 6000 else 0.0)),
    "bits_gradual_0.1_to_0.5_2000_4000": (
        13, 6000, lambda i, u: float(u < 0.1 + 0.4 * min(1.0, max(0.0, (i - 2000) / 2000)))),
}
PH = {
    "up_2_at_1500": (5, 3000, lambda i, u: u + (2.0 if i >= 1500 else 0.0)),
    "down_1_at_1500": (14, 3000, lambda i, u: u - (1.0 if i >= 1500 else 0.0)),
    "uniform_noise": (5, 3000, lambda i, u: u),
}
DDM = {
    "errors_0.1_to_0.5_at_2000": (6, 4000, lambda i, u: u < (0.1 if i < 2000 else 0.5)),
    "errors_0.1_stationary": (7, 4000, lambda i, u: u < 0.1),
    "errors_0.2_to_0.35_at_3000": (15, 6000, lambda i, u: u < (0.2 if i < 3000 else 0.35)),
}


def run(make, streams, warnings=False):
    out = {}
    for name, (seed, n, f) in streams.items():
        d = make()
        drifts, warns = [], 0
        for i, u in enumerate(lcg_uniform(seed, n)):
            d.update(f(i, u))
            if d.drift_detected:
                drifts.append(i)
            if warnings and d.warning_detected:
                warns += 1
        out[name] = {"drifts": drifts, **({"warnings": warns} if warnings else {})}
    return out


def main():
    print(f"# river {river.__version__}, Python {sys.version.split()[0]}")
    res = {
        # drift.ADWIN() defaults: delta=0.002, clock=32, max_buckets=5, min_window_length=5, grace_period=10
        "adwin": run(lambda: drift.ADWIN(), ADWIN),
        # drift.PageHinkley() defaults: min_instances=30, delta=0.005, threshold=50, alpha=0.9999, mode="both"
        "page_hinkley": run(lambda: drift.PageHinkley(), PH),
        # drift.binary.DDM() defaults: warm_start=30, warning_threshold=2, drift_threshold=3
        "ddm": run(lambda: drift.binary.DDM(), DDM, warnings=True),
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
