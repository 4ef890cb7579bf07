"""Reference bands for mlops-monitor's alert rules (`band = "reference"`).

NannyML's threshold on reference chunks: mean ± sigma·std (population std, numpy's default
ddof=0), clipped to the metric's range. Run with the pins in requirements-alerts.txt:

    python3 -m venv .venv-nannyml && .venv-nannyml/bin/pip install -r tools/reference/requirements-alerts.txt
    .venv-nannyml/bin/python tools/reference/alerts_reference.py

Prints the values pinned in mlops-monitor/src/alert/engine.rs and mlops-monitor/tests/alerts.rs.
"""
import numpy as np
from nannyml.thresholds import StandardDeviationThreshold, calculate_threshold_values

CASES = {
    # name: (reference chunk values, lower limit, upper limit)
    "three": ([0.9, 0.92, 0.94], 0.0, 1.0),
    "clipped": ([0.2, 0.99], 0.0, 1.0),
    "accuracy_ref": ([0.90, 0.91, 0.89, 0.92, 0.88, 0.90], 0.0, 1.0),
}

for name, (values, lo, hi) in CASES.items():
    lower, upper = calculate_threshold_values(
        StandardDeviationThreshold(std_lower_multiplier=3, std_upper_multiplier=3),
        np.array(values),
        lower_threshold_value_limit=lo,
        upper_threshold_value_limit=hi,
    )
    print(f"{name}: values={values} lower={lower!r} upper={upper!r}")
