"""Check-in codes: every refusal has its own code, and a good code is accepted only where and
when it should be."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.activities import planning, tokens
from ledger.activities.tokens import TokenRefused
from ledger.errors import Conflict, InvalidInput
from ledger.ratelimit import RateLimited, RateLimiter
from tests.builders.activities import (
    T0,
    make_activity,
    make_world,
    rotating,
    scan,
    static,
)


def _refusal(fn) -> str:
    with pytest.raises((TokenRefused, Conflict, InvalidInput)) as e:
        fn()
    return e.value.code


def test_rotating_code_is_accepted_for_two_periods_then_refused_as_expired(db, settings):
    w = make_world(db)
    act = make_activity(db, w)  # rotates every 15 s
    shown = T0 + timedelta(seconds=3)  # period p: T0 .. T0+15 s
    code = rotating(settings, act, shown)
    assert scan(db, settings, w, act, 0, T0 + timedelta(seconds=29), token=code).action \
        == "check_in"  # still the next period: accepted
    late = T0 + timedelta(seconds=30)  # two periods on
    assert _refusal(lambda: scan(db, settings, w, act, 1, late, token=code)) == "token_expired"


def test_altered_or_foreign_codes_are_refused_as_forged(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    code = rotating(settings, act, T0)
    head, counter, sig = code.split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    other_act = f"r{tokens._b36(act.id + 1)}.{counter}.{sig}"
    other_secret = tokens.rotating_token("x" * 43, act.id, 15, T0)[0]
    for bad in (f"{head}.{counter}.{flipped}", other_act, other_secret, "garbage",
                f"{head}.0{counter}.{sig}", f"{head}.-{counter}.{sig}", "r1..", "x" * 200,
                f"s{head[1:]}.{counter}.{sig}"):
        assert _refusal(lambda b=bad: scan(db, settings, w, act, 0, T0, token=b)) == \
            "token_forged", bad


def test_code_dated_in_the_future_beyond_clock_skew_is_forged(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    ahead = rotating(settings, act, T0 + timedelta(seconds=45))
    assert _refusal(lambda: scan(db, settings, w, act, 0, T0, token=ahead)) == "token_forged"
    soon = rotating(settings, act, T0 + timedelta(seconds=15))  # one period ahead: skew
    assert scan(db, settings, w, act, 0, T0, token=soon).action == "check_in"


def test_static_code_works_only_inside_the_window(db, settings):
    w = make_world(db)
    act = make_activity(db, w, hours=2)
    code = static(settings, act)
    too_early = T0 - timedelta(minutes=31)
    assert _refusal(lambda: scan(db, settings, w, act, 0, too_early, token=code)) == \
        "checkin_not_open_yet"
    assert scan(db, settings, w, act, 0, T0 - timedelta(minutes=30), token=code).action \
        == "check_in"
    # A photo of the printed code sent to a friend after the activity: refused.
    after = T0 + timedelta(hours=3, seconds=1)
    assert _refusal(lambda: scan(db, settings, w, act, 1, after, token=code)) == \
        "token_replayed_after_window"


def test_reprinting_the_static_code_revokes_old_prints(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    old = static(settings, act, 1)
    planning.reissue_static_code(db, w.organizer, act.id)
    assert _refusal(lambda: scan(db, settings, w, act, 0, T0, token=old)) == "token_revoked"
    assert scan(db, settings, w, act, 0, T0, token=static(settings, act, 2)).action == \
        "check_in"


def test_code_of_another_activity_is_refused_on_an_activity_page(db, settings):
    w = make_world(db)
    here = make_activity(db, w)
    there = make_activity(db, w, title="敬老助老")
    code = rotating(settings, there, T0)
    assert _refusal(lambda: scan(db, settings, w, here, 0, T0, token=code,
                                 activity_id=here.id)) == "token_other_activity"
    assert scan(db, settings, w, there, 0, T0, token=code,
                activity_id=there.id).action == "check_in"


def test_geofence_refuses_outside_and_needs_a_location(db, settings):
    w = make_world(db)
    # 塘边村文化广场 (about 24.73 N, 118.63 E); a 100 m fence.
    act = make_activity(db, w, geo_lat=24.7300, geo_lon=118.6300, geo_radius_m=100)
    assert _refusal(lambda: scan(db, settings, w, act, 0, T0)) == "location_required"
    far = dict(lat=24.7400, lon=118.6300, accuracy_m=20)  # about 1.1 km north
    assert _refusal(lambda: scan(db, settings, w, act, 0, T0, **far)) == "outside_geofence"
    # 150 m away with a reported accuracy of 60 m: inside the fence widened by the accuracy.
    near = dict(lat=24.7300 + 150 / 111_195, lon=118.6300, accuracy_m=60)
    assert scan(db, settings, w, act, 0, T0, **near).action == "check_in"
    # A claimed accuracy of 5 km widens the fence by at most 100 m.
    vague = dict(lat=24.7400, lon=118.6300, accuracy_m=5000)
    assert _refusal(lambda: scan(db, settings, w, act, 1, T0, **vague)) == "outside_geofence"


def test_draft_and_closed_activities_refuse_scans(db, settings):
    w = make_world(db)
    draft = make_activity(db, w, open_it=False)
    assert _refusal(lambda: scan(db, settings, w, draft, 0, T0)) == "activity_not_open"
    act = make_activity(db, w)
    planning.set_status(db, w.organizer, act.id, "closed", now=T0)
    assert _refusal(lambda: scan(db, settings, w, act, 0, T0)) == "activity_closed"


def test_scans_are_rate_limited_per_person_and_per_address(db, settings, monkeypatch):
    from ledger.activities import service
    w = make_world(db)
    act = make_activity(db, w)
    limiter = RateLimiter(None)
    monkeypatch.setattr(service, "SCAN_PER_PERSON", service.Limit("scan_person", 3, 60))
    monkeypatch.setattr(service, "SCAN_PER_ADDRESS", service.Limit("scan_address", 5, 60))
    for _ in range(3):
        scan(db, settings, w, act, 0, T0, limiter=limiter, ip="10.0.0.9")
    with pytest.raises(RateLimited) as e:
        scan(db, settings, w, act, 0, T0, limiter=limiter, ip="10.0.0.9")
    assert e.value.status == 429 and 1 <= e.value.extra["retry_after"] <= 60
    scan(db, settings, w, act, 1, T0, limiter=limiter, ip="10.0.0.9")  # 5th from the address
    with pytest.raises(RateLimited):
        scan(db, settings, w, act, 2, T0, limiter=limiter, ip="10.0.0.9")
    scan(db, settings, w, act, 2, T0, limiter=limiter, ip="10.0.0.10")  # another address


def test_rotation_period_has_limits():
    with pytest.raises(InvalidInput) as e:
        tokens.rotating_token("s" * 43, 1, 2, T0)
    assert e.value.code == "rotate_s_out_of_range"


def test_a_code_good_when_the_scan_arrived_is_accepted_though_answered_late(db, settings):
    """A busy server may reach a scan after its code's periods have passed: the code is judged
    at the scan's arrival (at most MAX_SERVER_WAIT before), not at the answer."""
    from ledger.activities import service as checkin

    w = make_world(db)
    act = make_activity(db, w)  # rotates every 15 s: good for two periods
    code = rotating(settings, act, T0)
    late = T0 + timedelta(seconds=40)
    assert _refusal(lambda: scan(db, settings, w, act, 0, late, token=code)) == "token_expired"
    assert scan(db, settings, w, act, 0, late, token=code,
                arrived_at=T0 + timedelta(seconds=20)).action == "check_in"
    stale = late - checkin.MAX_SERVER_WAIT - timedelta(seconds=1)  # no credit past the limit
    assert _refusal(lambda: scan(db, settings, w, act, 1, late, token=code,
                                 arrived_at=stale)) == "token_expired"
    future = late + timedelta(seconds=1)  # an arrival after "now" is not believed either
    assert _refusal(lambda: scan(db, settings, w, act, 1, late, token=code,
                                 arrived_at=future)) == "token_expired"
