"""Personal data in the registry: validation of phone and ID numbers, and the masks every
response uses unless the caller's role needs the full value (docs/registry.md, "Privacy").

Who sees what:
- phone: in full for a town admin and for the village admin of the person's village (they call
  residents); masked (138****5678) for everyone else; never on public pages.
- ID number: masked in every response; in full only in the personal data export and the CSV
  export, both for admins of the person's village (and the export for the person themself).
"""

from __future__ import annotations

import re
from datetime import date

from ledger.identity.actor import may
from ledger.identity.roles import TOWN_ADMIN, VILLAGE_ADMIN

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")  # mainland mobile numbers
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
ID_RE = re.compile(r"^\d{17}[\dX]$")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
PHONE_ROLES = (TOWN_ADMIN, VILLAGE_ADMIN)


def normalize_phone(raw: str | None) -> str | None:
    """'138 1234-5678' or '+86 13812345678' → '13812345678'; None or '' stays None.
    Raises ValueError with a reason for anything that is not a mainland mobile number."""
    if raw is None or raw == "":  # an import's empty cell, on nearly every row of it
        return None
    digits = _PHONE_SEPARATORS.sub("", str(raw))
    if not digits:
        return None
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not PHONE_RE.match(digits):
        raise ValueError(f"手机号格式不对 (not a mainland mobile number): {raw!r}")
    return digits


def id_check_digit(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def normalize_id_number(raw: str | None) -> str | None:
    """An 18-character resident ID number (GB 11643) with a valid birth date and check digit;
    lower-case x is accepted. None or '' stays None. Raises ValueError with a reason."""
    if raw is None:
        return None
    v = str(raw).strip().upper()
    if not v:
        return None
    if not ID_RE.match(v):
        raise ValueError("身份证号应为18位 (an ID number has 17 digits and a check digit)")
    try:
        date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise ValueError("身份证号中的出生日期无效 (the birth date in the ID number is invalid)"
                         ) from None
    if id_check_digit(v[:17]) != v[17]:
        raise ValueError("身份证号校验位不对 (the ID number's check digit is wrong)")
    return v


def mask_phone(phone: str | None) -> str | None:
    """13812345678 → 138****5678."""
    if not phone:
        return None
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id_number(id_number: str | None) -> str | None:
    """350581199001011234 → 3505**********1234."""
    if not id_number:
        return None
    return id_number[:4] + "*" * max(0, len(id_number) - 8) + id_number[-4:]


def mask_name(name: str | None) -> str:
    """For lists shown beyond the village office: 陈大明 → 陈*明, 陈明 → 陈*."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_given_name(name: str | None) -> str:
    """A household or person shown on a public page (the door plate): the family name and a
    mask of one or two characters (张大明 → 张**, 张明 → 张*)."""
    name = (name or "").strip()
    if not name:
        return "**"
    return name[0] + "*" * max(1, min(len(name) - 1, 2))


def sees_phone(actor, village_id: int) -> bool:
    return actor is not None and may(actor, PHONE_ROLES, village_id)
