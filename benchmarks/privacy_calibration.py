"""Time the PAC-MI noise calibration and a full engine step.

Prints the mean time of `sigma_for_mi` over random (q_plus, budget) pairs and of
one PrivacyEngine step with M=128 subsets and K=16 directions.

    python benchmarks/privacy_calibration.py
"""

from __future__ import annotations

import time

import numpy as np

from paczero.privacy.channel import binary_entropy, sigma_for_mi
from paczero.privacy.mechanism import PrivacyEngine


def main() -> None:
    rng = np.random.default_rng(3)
    cases = [(q, rng.uniform(0.001, 0.999) * binary_entropy(q)) for q in rng.uniform(1e-6, 1 - 1e-6, 500)]
    started = time.perf_counter()
    for q, budget in cases:
        sigma_for_mi(q, budget)
    per_call = (time.perf_counter() - started) / len(cases)
    print(f"sigma_for_mi: {per_call * 1e3:.3f} ms per call ({len(cases)} calls)")

    engine = PrivacyEngine("pacmi", 128, 0.33, 1000, directions=16, rng=np.random.default_rng(0))
    steps = 50
    started = time.perf_counter()
    for step in range(steps):
        engine.begin_step(step)
        for _ in range(16):
            engine.release(rng.normal(size=128), 0.0)
        engine.end_step()
    per_step = (time.perf_counter() - started) / steps
    print(f"PrivacyEngine step (M=128, K=16): {per_step * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
