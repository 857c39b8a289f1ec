"""The range of m standard normals (studentized range with df = inf) in harmony.benchmark.bt.

bt's ``range_cdf`` / ``range_quantile`` give Lai et al.'s significance test its W (Lai et al., CVPR 2016:
``R = ceil(0.5 W sqrt(S M) + 0.25)``); they delegate to ``scipy.stats.studentized_range``. The reference
here is independent of that code: the textbook integral of the range of m iid standard normals,

    P(range <= w) = m * integral phi(x) (Phi(x + w) - Phi(x))^(m - 1) dx

(David and Nagaraja, Order Statistics, 3rd ed., eq. 2.3.5), evaluated with ``scipy.integrate.quad``; the
published table values in tests/test_bt.py anchor both.
"""

from __future__ import annotations

import math

import pytest
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.stats import norm

from harmony.benchmark import bt

METHODS = (2, 3, 5, 10, 20, 40)


def _range_cdf_integral(w: float, m: int) -> float:
    if w <= 0:
        return 0.0

    def integrand(x):
        return norm.pdf(x) * (norm.cdf(x + w) - norm.cdf(x)) ** (m - 1)

    value, _ = quad(integrand, -9.0, 9.0, epsabs=1e-12, epsrel=1e-11, limit=100)   # phi < 1e-17 beyond
    return m * value


@pytest.mark.parametrize("m", METHODS)
def test_range_cdf_matches_the_integral(m):
    for w in (0.05, 0.3, 1.0, 2.0, 3.5, 5.0, 8.0):
        assert bt.range_cdf(w, m) == pytest.approx(_range_cdf_integral(w, m), abs=1e-9), (m, w)


def test_range_cdf_two_methods_closed_form():
    # m = 2: the range is |Z1 - Z2| = sqrt(2) |Z|, so P(range <= w) = 2 Phi(w / sqrt(2)) - 1
    for w in (0.5, 1.0, 2.5):
        assert bt.range_cdf(w, 2) == pytest.approx(2 * norm.cdf(w / math.sqrt(2)) - 1, abs=1e-12)


def test_range_cdf_is_zero_at_and_below_zero():
    assert bt.range_cdf(0.0, 5) == 0.0
    assert bt.range_cdf(-1.0, 5) == 0.0


@pytest.mark.parametrize("m", (3, 10))
def test_range_quantile_inverts_the_integral(m):
    for alpha in (0.01, 0.05):
        expected = brentq(lambda w, a=alpha: 1 - _range_cdf_integral(w, m) - a, 1.0, 8.0, xtol=1e-10)
        assert bt.range_quantile(m, alpha) == pytest.approx(expected, abs=1e-6), (m, alpha)


def test_range_quantile_refuses_bad_input():
    with pytest.raises(ValueError, match="m"):
        bt.range_quantile(1, 0.01)
    with pytest.raises(ValueError, match="alpha"):
        bt.range_quantile(5, 1.5)
