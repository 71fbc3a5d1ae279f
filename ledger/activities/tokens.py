"""Check-in tokens: short, URL-safe, HMAC-signed with a key derived from the server secret.

A token names its activity and either a rotation period (the organizer's screen shows a new code
every `rotate_s` seconds; a code is accepted for `ACCEPTED_PERIODS` periods) or, for a printed
static code, the activity's static-code version (reprinting bumps it and revokes old prints).
Shape: `<kind><activity, base36>.<counter, base36>.<signature, base64url>`, e.g.
`r1f.6xk2p.Lq0…`; it fits the `[A-Za-z0-9._~-]` alphabet of the scan paths.

A first-time volunteer opens a rotating code before signing in, and signing in (an SMS code)
takes longer than the code lives. When the service sees a rotating code while it is still good,
it hands out a *pending scan*: the moment it saw the code, signed. Presented with the same code
within `PENDING_SCAN_GRACE_S`, the code is judged at that moment instead of now; after the grace
it is worth nothing, so a screenshot of the code or of the pending scan an hour later is useless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.errors import DomainError, InvalidInput

ROTATING = "r"
STATIC = "s"
DEFAULT_ROTATE_S = 15
MIN_ROTATE_S = 5
MAX_ROTATE_S = 300
ACCEPTED_PERIODS = 2  # the current code and the one before it (a slow phone, a slow network)
CLOCK_SKEW_PERIODS = 1  # a code from the next period is accepted: API hosts' clocks differ
SIGNATURE_BYTES = 16
MAX_TOKEN_CHARS = 80
_KEY_LABEL = b"jifen/checkin-token/v1"
PENDING_SCAN_GRACE_S = 600  # sign-in by SMS code must fit in here after the first scan
_PENDING_LABEL = b"jifen/pending-scan/v1"


class TokenRefused(DomainError):
    """A scan refused because of its code; each reason has its own `code`."""

    status = 403
    title = "Check-in code refused"


@dataclass(frozen=True)
class TokenClaims:
    kind: str  # ROTATING | STATIC
    activity_id: int
    counter: int  # rotation period index, or the static-code version


def _key(secret: str, label: bytes = _KEY_LABEL) -> bytes:
    # A key of its own, so a check-in code can never double as any other signed value.
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def _b36(n: int) -> str:
    if n < 0:
        raise ValueError("negative")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _sign(secret: str, kind: str, activity_id: int, counter: int) -> str:
    msg = f"{kind}:{activity_id}:{counter}".encode()
    mac = hmac.new(_key(secret), msg, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(secret: str, kind: str, activity_id: int, counter: int) -> str:
    if kind not in (ROTATING, STATIC):
        raise ValueError(f"unknown token kind {kind!r}")
    return f"{kind}{_b36(activity_id)}.{_b36(counter)}.{_sign(secret, kind, activity_id, counter)}"


def period_of(at: datetime, rotate_s: int) -> int:
    return int(at.timestamp()) // rotate_s


def rotating_token(secret: str, activity_id: int, rotate_s: int, at: datetime) -> tuple[str, int]:
    """The code to show now, and the seconds until the screen should show the next one."""
    check_rotate_s(rotate_s)
    ts = int(at.timestamp())
    return (make_token(secret, ROTATING, activity_id, ts // rotate_s),
            rotate_s - ts % rotate_s)


def static_token(secret: str, activity_id: int, version: int) -> str:
    return make_token(secret, STATIC, activity_id, version)


def check_rotate_s(rotate_s: int) -> None:
    if not MIN_ROTATE_S <= rotate_s <= MAX_ROTATE_S:
        raise InvalidInput(f"the code rotates every {MIN_ROTATE_S}..{MAX_ROTATE_S} s",
                           code="rotate_s_out_of_range", field="rotate_s")


def forged(detail: str = "this check-in code was not issued by this service") -> TokenRefused:
    return TokenRefused(detail, code="token_forged")


def parse(secret: str, token: str) -> TokenClaims:
    """Check the shape and the signature; the caller checks time, window and activity."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise forged()
    parts = token.split(".")
    if len(parts) != 3 or len(parts[0]) < 2 or parts[0][0] not in (ROTATING, STATIC):
        raise forged()
    kind = parts[0][0]
    try:
        activity_id, counter = int(parts[0][1:], 36), int(parts[1], 36)
    except ValueError:
        raise forged() from None
    # Only the canonical spelling is accepted (no leading zeros, lower case), so one code has
    # exactly one string; comparing whole strings in constant time checks the signature too.
    if activity_id <= 0 or counter < 0 or not hmac.compare_digest(
            make_token(secret, kind, activity_id, counter), token):
        raise forged()
    return TokenClaims(kind, activity_id, counter)


def check_rotation(claims: TokenClaims, rotate_s: int, now: datetime) -> None:
    """A rotating code is good for the current period and the one before it."""
    current = period_of(now, rotate_s)
    age = current - claims.counter
    if age >= ACCEPTED_PERIODS:
        raise TokenRefused(
            f"this check-in code expired {(age - ACCEPTED_PERIODS + 1) * rotate_s} s ago or "
            "more; scan the code on the organizer's screen again", code="token_expired",
            age_s=age * rotate_s)
    if age < -CLOCK_SKEW_PERIODS:
        raise forged("this check-in code is dated in the future")


def _pending_sig(secret: str, token: str, seen_s: int) -> str:
    mac = hmac.new(_key(secret, _PENDING_LABEL), f"{token}:{seen_s}".encode(),
                   hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def pending_scan(secret: str, claims: TokenClaims, token: str, rotate_s: int,
                 now: datetime) -> str | None:
    """The signed record that `token` was seen good at `now`; None for a static code (it does
    not expire). A rotating code already expired is refused as in a scan (TokenRefused)."""
    if claims.kind != ROTATING:
        return None
    check_rotation(claims, rotate_s, now)
    seen_s = int(now.timestamp())
    return f"{_b36(seen_s)}.{_pending_sig(secret, token, seen_s)}"


def pending_seen_at(secret: str, token: str, pending: str | None,
                    now: datetime) -> datetime | None:
    """When the service first saw `token` good, if `pending` says so for this very token and
    the grace has not run out; None otherwise (a pending scan never makes a code worse)."""
    if not pending or len(pending) > MAX_TOKEN_CHARS:
        return None
    seen_b36, _, sig = pending.partition(".")
    try:
        seen_s = int(seen_b36, 36)
    except ValueError:
        return None
    if not hmac.compare_digest(_pending_sig(secret, token, seen_s), sig):
        return None
    if not 0 <= int(now.timestamp()) - seen_s <= PENDING_SCAN_GRACE_S:
        return None
    return datetime.fromtimestamp(seen_s, tz=UTC)
