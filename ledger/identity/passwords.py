"""Password hashing with argon2id, and the rules a new password must meet.

Parameters: OWASP's recommended argon2id minimum (19 MiB, 2 passes, 1 lane): about 0.1 s per
hash on this project's reference machine (2 cores), where argon2-cffi's default profile (64 MiB,
3 passes, 4 lanes) takes 0.5-0.7 s — too slow for a sign-in page on a small town server, and a
cheaper lever for an attacker flooding it. Hashes record their parameters; a stored hash made
with other parameters is upgraded at the next successful sign-in (needs_rehash)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ledger.errors import InvalidInput

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 128  # argon2 takes any length; a bound keeps hashing cost bounded

ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_LANES = 1
_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                         parallelism=ARGON2_LANES)
_dummy: list[str] = []  # verified when the login is unknown: a wrong login costs as much


def _dummy_hash() -> str:
    if not _dummy:
        _dummy.append(_hasher.hash("jifen-dummy-password"))
    return _dummy[0]


def check_new_password(password: str, *, login: str | None = None) -> None:
    if not isinstance(password, str):
        raise InvalidInput("password must be text", code="password_invalid")
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(f"密码须为{MIN_PASSWORD_CHARS}到{MAX_PASSWORD_CHARS}个字符 "
                           f"(a password has {MIN_PASSWORD_CHARS}..{MAX_PASSWORD_CHARS} "
                           "characters)", code="password_too_short"
                           if len(password) < MIN_PASSWORD_CHARS else "password_too_long")
    if login and password.lower() == login.lower():
        raise InvalidInput("密码不能与登录名相同 (the password equals the login)",
                           code="password_weak")
    if len(set(password)) < 4:
        raise InvalidInput("密码过于简单 (too few different characters)", code="password_weak")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if `password` matches; always spends one argon2 verification."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
        password = ""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
