from __future__ import annotations

import math

import numpy as np

from reverie.embeddings.bert import erf, gelu_, gelu_blocked_


def test_erf_matches_math_erf_within_1e_6() -> None:
    x = np.linspace(-6, 6, 4001, dtype=np.float32)
    expected = np.array([math.erf(float(v)) for v in x])
    assert np.max(np.abs(erf(x) - expected)) < 1e-6


def test_gelu_is_the_exact_erf_form() -> None:
    x = np.linspace(-8, 8, 2001, dtype=np.float32)
    expected = np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x.astype(float)])
    assert np.max(np.abs(gelu_(x.copy()) - expected)) < 2e-6


def test_blocked_gelu_equals_gelu_on_every_row() -> None:
    x = np.random.default_rng(0).normal(size=(75, 16)).astype(np.float32) * 4
    scratch = (
        np.empty((32, 16), np.float32),
        np.empty((32, 16), np.float32),
        np.empty((32, 16), np.float32),
    )
    assert np.array_equal(gelu_blocked_(x.copy(), scratch), gelu_(x.copy()))
