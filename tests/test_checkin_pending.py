"""A pending scan: a rotating code seen good before sign-in is judged at the moment it was seen,
for PENDING_SCAN_GRACE_S and for that very code only; never later, never for another code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.activities import tokens
from tests.builders.activities import T0, make_activity, make_world, rotating, scan


def _pending(settings, act, token, at):
    claims = tokens.parse(settings.secret_key, token)
    return tokens.pending_scan(settings.secret_key, claims, token, act.rotate_s, at)


def test_a_code_seen_before_sign_in_counts_within_the_grace(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    code = rotating(settings, act, T0)
    pending = _pending(settings, act, code, T0)
    later = T0 + timedelta(seconds=tokens.PENDING_SCAN_GRACE_S - 1)
    with pytest.raises(tokens.TokenRefused) as e:
        scan(db, settings, w, act, 0, later, token=code)  # without it: long expired
    assert e.value.code == "token_expired"
    done = scan(db, settings, w, act, 0, later, token=code, pending=pending)
    assert done.action == "check_in" and not done.repeated


def test_a_pending_scan_is_useless_after_the_grace_or_for_another_code(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    code = rotating(settings, act, T0)
    pending = _pending(settings, act, code, T0)
    an_hour_later = T0 + timedelta(hours=1)
    with pytest.raises(tokens.TokenRefused) as e:
        scan(db, settings, w, act, 0, an_hour_later, token=code, pending=pending)
    assert e.value.code == "token_expired"
    just_after = T0 + timedelta(seconds=tokens.PENDING_SCAN_GRACE_S + 1)
    with pytest.raises(tokens.TokenRefused):
        scan(db, settings, w, act, 1, just_after, token=code, pending=pending)
    other = rotating(settings, act, T0 - timedelta(minutes=5))  # an old screenshot
    with pytest.raises(tokens.TokenRefused):
        scan(db, settings, w, act, 2, T0, token=other, pending=pending)
    seen, sig = pending.split(".")
    forged = f"{seen}.{sig[::-1]}"
    with pytest.raises(tokens.TokenRefused):
        scan(db, settings, w, act, 3, T0 + timedelta(minutes=2), token=code, pending=forged)


def test_an_expired_code_gets_no_pending_scan(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    code = rotating(settings, act, T0)
    with pytest.raises(tokens.TokenRefused):
        _pending(settings, act, code, T0 + timedelta(minutes=5))
