"""Hours as a currency (time bank, issue #19.10): a person spends banked minutes to receive help
from another, who earns them — one balanced entry in the unit `bank_minutes`, receiver debited,
helper credited. Certified service minutes (unit `minutes`, which stars, levels and
certificates read) are a different book and never move here.

A catalog's `time_bank:` turns it on for its villages: an opening of hours given once to each
person (from the village's `funding` account in that unit) at their first exchange, a limit per
exchange, and a cap on what one person may earn through the bank in a year (the deed's year).
Rules kept as on every path that moves value: the helper is not the receiver; the recorder is
the receiver or staff of the receiver's village, never the helper; both people in villages the
catalog covers; one transaction per exchange, idempotent by key; a receiver never overdraws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ledger.config import Settings
from ledger.db import Database
from ledger.errors import Conflict, Forbidden, InsufficientFunds, InvalidInput, NotFound
from ledger.journal import book
from ledger.journal.accounts import open_account
from ledger.journal.models import HolderType, JournalEntry, Posting, Purpose, Unit
from ledger.journal.posting import Line, post_entry
from ledger.rules import spec as S
from ledger.rules.periods import local_date
from ledger.rules.schemas import TimeBankExchanged
from ledger.identity.actor import Actor
from ledger.timeutil import LOCAL_TZ, utcnow

KIND = "time_bank"
OPENING_KIND = "time_bank_opening"
MAX_NOTE = 500
STAFF = ("organizer", "village_admin")


@dataclass(frozen=True)
class Exchange:
    receiver_id: int
    helper_id: int
    minutes: int
    note: str
    occurred_at: datetime | None = None


def _catalog(s: Session, village_name: str | None, now: datetime) -> S.Catalog:
    from ledger.rules.store import catalogs_for
    cats = [c for c in catalogs_for(s, village_name, now) if c.time_bank is not None]
    if not cats:
        raise NotFound("本村未开设时间银行 (no time bank covers this village)",
                       code="time_bank_not_offered")
    return cats[0]


def account(s: Session, person_id: int) -> int:
    return open_account(s, holder_type=HolderType.PERSON, holder_id=person_id,
                        purpose=Purpose.POINTS, unit=Unit.BANK_MINUTES)


def balance(s: Session, person_id: int) -> int:
    from ledger.journal.models import Account
    return int(s.scalar(select(Account.balance).where(
        Account.unit == Unit.BANK_MINUTES, Account.holder_type == HolderType.PERSON,
        Account.holder_id == person_id, Account.purpose == Purpose.POINTS)) or 0)


def _lock(s: Session, account_id: int) -> int:
    """Lock the account row (PostgreSQL; SQLite has one writer) and return its posting count."""
    sql = "SELECT posting_count FROM account WHERE id = :id"
    if s.get_bind().dialect.name == "postgresql":
        sql += " FOR UPDATE"
    return int(s.scalar(text(sql), {"id": account_id}) or 0)


def _open_once(s: Session, tb: S.TimeBank, person_id: int, village_id: int, account_id: int,
               actor_id: int | None, now: datetime) -> None:
    if not tb.opening_minutes or _lock(s, account_id):
        return
    post_entry(s, unit=Unit.BANK_MINUTES, kind=OPENING_KIND, lines=[
        Line.of(account_id, tb.opening_minutes),
        Line.of(open_account(s, holder_type=HolderType.VILLAGE, holder_id=village_id,
                             purpose=Purpose.FUNDING, unit=Unit.BANK_MINUTES),
                -tb.opening_minutes)],
        memo="时间银行开户", source="time_bank", source_ref=str(person_id), actor_id=actor_id,
        details={"opening": True}, now=now)


def earned_in_year(s: Session, account_id: int, year: int) -> int:
    """Minutes the person earned through exchanges whose help happened in `year`."""
    rows = s.execute(select(Posting.amount, JournalEntry.details).join(
        JournalEntry, JournalEntry.id == Posting.entry_id).where(
        Posting.account_id == account_id, JournalEntry.kind == KIND, Posting.amount > 0))
    return sum(a for a, d in rows
               if datetime.fromisoformat((d or {}).get("occurred_at")).astimezone(LOCAL_TZ)
               .year == year)


def _refusal_of_recorder(s: Session, x: Exchange, recorder: Actor, village_id: int) -> None:
    """The recorder is the receiver (confirming the help received) or staff of the receiver's
    village; never the helper (no one pays themself)."""
    from ledger.registry.lookup import refuse_self_award
    person = recorder.person_id
    if person == x.receiver_id:
        return
    refuse_self_award(s, person, "person", x.helper_id)
    if not any(r == "town_admin" or (r in STAFF and v in (None, village_id))
               for r, v in recorder.roles):
        raise Forbidden("只有受助人本人或本村工作人员可以记录 (the receiver or the village's "
                        "staff records an exchange)", code="time_bank_not_permitted")


def exchange(s: Session, x: Exchange, *, recorder: Actor, now: datetime) -> dict:
    """Post one exchange inside the caller's transaction (see `record`)."""
    from ledger.rules.holders import resolve_holder
    if x.receiver_id == x.helper_id:
        raise InvalidInput("不能与自己交换时间 (helper and receiver are one person)",
                           code="time_bank_self")
    receiver = resolve_holder(s, "person", x.receiver_id)
    helper = resolve_holder(s, "person", x.helper_id)
    if x.occurred_at is not None and x.occurred_at.tzinfo is None:
        raise InvalidInput("occurred_at needs a time zone", code="occurred_at_invalid")
    at = x.occurred_at or now
    c = _catalog(s, receiver.village_name, at)
    if not c.covers_village(helper.village_name):
        raise Forbidden("帮助人不在本时间银行的村 (the helper's village is outside this time "
                        "bank)", code="out_of_scope")
    _refusal_of_recorder(s, x, recorder, receiver.village_id)
    tb = c.time_bank
    if not 1 <= x.minutes <= tb.max_exchange_minutes:
        raise InvalidInput(f"每次 1–{tb.max_exchange_minutes} 分钟 (minutes per exchange: 1.."
                           f"{tb.max_exchange_minutes})", code="time_bank_minutes_out_of_range")
    if at > now or (now - at).days > c.backdate_days:
        raise InvalidInput(f"帮助时间须在今天及之前 {c.backdate_days} 天内 (occurred_at within "
                           f"the catalog's backdating window)", code="occurred_at_out_of_range")
    actor_id = recorder.user_id
    ids = sorted([(x.receiver_id, account(s, x.receiver_id)),
                  (x.helper_id, account(s, x.helper_id))], key=lambda t: t[1])
    for pid, acct in ids:  # both rows locked in id order: no deadlock between two exchanges
        vid = receiver.village_id if pid == x.receiver_id else helper.village_id
        _open_once(s, tb, pid, vid, acct, actor_id, now)
        _lock(s, acct)
    acct_r, acct_h = account(s, x.receiver_id), account(s, x.helper_id)
    if tb.year_cap_minutes is not None:
        year = local_date(at).year
        used = earned_in_year(s, acct_h, year)
        if used + x.minutes > tb.year_cap_minutes:
            raise Conflict(f"帮助人 {year} 年已通过时间银行获得 {used // 60} 小时，年上限 "
                           f"{tb.year_cap_minutes // 60} 小时 (the helper's yearly cap)",
                           code="time_bank_year_cap", used_minutes=used,
                           cap_minutes=tb.year_cap_minutes,
                           room_minutes=max(tb.year_cap_minutes - used, 0))
    note = (x.note or "").strip()[:MAX_NOTE]
    try:
        e = post_entry(s, unit=Unit.BANK_MINUTES, kind=KIND, lines=[
            Line.of(acct_r, -x.minutes), Line.of(acct_h, x.minutes)],
            memo=note or "时间银行互助", source="time_bank", source_ref=str(x.receiver_id),
            actor_id=actor_id, details={"catalog": c.code, "receiver": x.receiver_id,
                                        "helper": x.helper_id, "minutes": x.minutes,
                                        "occurred_at": at.isoformat(), "recorder": actor_id},
            now=now)
    except InsufficientFunds as exc:
        raise Conflict(f"受助人时间银行余额不足 {x.minutes} 分钟 (the receiver's banked minutes "
                       f"are short)", code="time_bank_insufficient",
                       available_minutes=exc.extra.get("available")) from None
    return {"entry_id": e.id, "catalog": c.code, "receiver_id": x.receiver_id,
            "helper_id": x.helper_id, "minutes": x.minutes,
            "receiver_minutes": balance(s, x.receiver_id),
            "helper_minutes": balance(s, x.helper_id)}


def record(db: Database, settings: Settings, x: Exchange, *, recorder: Actor, key: str | None = None,
           now: datetime | None = None) -> TimeBankExchanged:
    """One exchange in one transaction, idempotent by `key` (book.write)."""
    now = now or utcnow()
    request = {"op": "time_bank", "receiver": x.receiver_id, "helper": x.helper_id,
               "minutes": x.minutes, "note": x.note,
               "occurred_at": x.occurred_at.isoformat() if x.occurred_at else None}
    return msgspec.convert(book.write(db, lambda s: exchange(s, x, recorder=recorder, now=now),
                                      key=key, request=request).result, TimeBankExchanged)


def summary(s: Session, person_id: int) -> dict:
    return {"person_id": person_id, "bank_minutes": balance(s, person_id)}


__all__ = ["Exchange", "balance", "exchange", "record", "summary"]
