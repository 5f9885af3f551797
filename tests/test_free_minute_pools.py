"""The free-minute pool is per month (CLINQ SD 2.1), also for calls reported late.

``AccountState.free_month`` and ``free_seconds_used`` hold the current month's pool; the
twelve months before it are kept in ``free_seconds_before`` so that a late call counts against
its own month (the rating itself, lane and general path alike, is in tests/test_call_path.py).
"""

from __future__ import annotations

from engine.core.state import (
    AccountState,
    free_seconds_used_in,
    start_free_pool,
    use_free_seconds,
)


def account() -> AccountState:
    return AccountState("a", "clinq", "business", "prepay", "DE", "0211", "active", "2025-01-01")


def test_clinq_sd_2_1_each_month_has_its_own_pool_and_a_late_call_leaves_the_current_one():
    state = account()
    use_free_seconds(state, "2026-11", 3600)
    use_free_seconds(state, "2026-12", 600)
    use_free_seconds(state, "2026-11", 60)  # reported late
    assert free_seconds_used_in(state, "2026-11") == 3660
    assert free_seconds_used_in(state, "2026-12") == 600
    assert free_seconds_used_in(state, "2026-10") == 0
    assert (state.free_month, state.free_seconds_used) == ("2026-12", 600)


def test_clinq_sd_2_1_twelve_months_before_the_current_pool_are_kept():
    state = account()
    for month in range(1, 13):
        use_free_seconds(state, f"2025-{month:02d}", month)
    use_free_seconds(state, "2026-01", 1)
    use_free_seconds(state, "2026-02", 1)
    assert min(state.free_seconds_before) == "2025-02"
    assert free_seconds_used_in(state, "2025-01") == 0  # older than a year: not kept
    assert free_seconds_used_in(state, "2025-12") == 12


def test_a_copy_shares_the_earlier_pools_until_one_of_them_changes():
    # AccountState.copy is shallow for this field: the batch start's state must not change
    state = account()
    use_free_seconds(state, "2026-12", 60)
    use_free_seconds(state, "2026-11", 60)
    twin = state.copy()
    use_free_seconds(twin, "2026-11", 60)
    start_free_pool(twin, "2026-12")
    assert free_seconds_used_in(state, "2026-11") == 60
    assert free_seconds_used_in(state, "2026-12") == 60
    assert free_seconds_used_in(twin, "2026-11") == 120
    assert free_seconds_used_in(twin, "2026-12") == 0
