"""The range of m standard normals (studentized range with df = inf) in harmony.benchmark.bt against
``scipy.stats.studentized_range``, the well-kept implementation (Lund & Lund 1983 integral; scipy >= 1.7).

bt's ``range_cdf`` / ``range_quantile`` give Lai et al.'s significance test its W (Lai et al., CVPR 2016:
``R = ceil(0.5 W sqrt(S M) + 0.25)``). These checks hold before and after bt delegates to scipy, and the
published table values in tests/test_bt.py keep anchoring both.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import studentized_range

from harmony.benchmark import bt

METHODS = (2, 3, 4, 5, 7, 10, 14, 20, 40)


@pytest.mark.parametrize("m", METHODS)
def test_range_cdf_matches_scipy(m):
    for w in (0.05, 0.3, 1.0, 2.0, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0):
        assert bt.range_cdf(w, m) == pytest.approx(studentized_range.cdf(w, m, np.inf), abs=1e-10), (m, w)


def test_range_cdf_is_zero_at_and_below_zero():
    assert bt.range_cdf(0.0, 5) == 0.0
    assert bt.range_cdf(-1.0, 5) == 0.0


@pytest.mark.parametrize("m", METHODS)
def test_range_quantile_matches_scipy(m):
    for alpha in (0.001, 0.01, 0.05, 0.1, 0.5):
        expected = studentized_range.isf(alpha, m, np.inf)
        assert bt.range_quantile(m, alpha) == pytest.approx(expected, abs=1e-10), (m, alpha)


def test_range_quantile_refuses_bad_input():
    with pytest.raises(ValueError, match="m"):
        bt.range_quantile(1, 0.01)
    with pytest.raises(ValueError, match="alpha"):
        bt.range_quantile(5, 1.5)
