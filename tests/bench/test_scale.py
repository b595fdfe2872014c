"""The size knob moves every bench's defaults, keeps the issue's sizes at 1 and refuses nonsense."""

from __future__ import annotations

import pytest

from bench._scale import scaled, scaled_seconds


def test_the_default_scale_keeps_the_issue_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIELDLINE_BENCH_SCALE", raising=False)
    assert scaled(1_000_000) == 1_000_000
    assert scaled_seconds(20) == 20


def test_a_fraction_shrinks_sizes_down_to_their_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDLINE_BENCH_SCALE", "0.01")
    assert scaled(1_000_000, 1000) == 10_000
    assert scaled(10_000, 1000) == 1000
    assert scaled_seconds(20, 3) == 3


@pytest.mark.parametrize("value", ["0", "-1", "tiny"])
def test_a_scale_that_is_not_a_positive_number_fails(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FIELDLINE_BENCH_SCALE", value)
    with pytest.raises(ValueError):
        scaled(100)
