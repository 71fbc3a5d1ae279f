"""Donors and money donations. A donor's ledger account is (holder "donor", purpose funding):
a source that may go below zero, as the town's funding does, so its balance is minus what the
donor gave. A donation moves `value_fen / point_value_fen` points (in the catalog's steps) from
it into the village's budget shards: the awards it pays are then ordinary awards, under the
rules, and the trial balance still sums to zero."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import InvalidInput, NotFound
from ledger.fund.models import Donation, Donor
from ledger.fund.schemas import DonationView, DonorStatement, DonorThanks, DonorView
from ledger.identity.actor import require
from ledger.identity.roles import TOWN_ADMIN
from ledger.journal import book
from ledger.journal.accounts import budget_shards, open_account
from ledger.journal.models import Purpose, Unit
from ledger.journal.posting import Line, post_entry
from ledger.registry.models import Village
from ledger.rules import store
from ledger.rules.periods import local_date
from ledger.timeutil import utcnow

HOLDER = "donor"
DONOR_KINDS = ("business", "group", "person")
MAX_DONATION_FEN = 100_000_000  # one million yuan in one entry
MAX_NAME_CHARS = 100
MAX_NOTE_CHARS = 200


def add_donor(db: Database, actor, *, town_id: int, name: str, kind: str,
              thank_publicly: bool = True, key: str | None = None) -> DonorView:
    require(actor, (TOWN_ADMIN,), None, "adding a donor")
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"donor name: 1..{MAX_NAME_CHARS} characters", code="name_invalid",
                           field="name")
    if kind not in DONOR_KINDS:
        raise InvalidInput(f"kind is one of {', '.join(DONOR_KINDS)}", code="donor_kind_unknown",
                           field="kind")

    def work(s: Session) -> dict:
        d = Donor(town_id=town_id, name=name, kind=kind, thank_publicly=thank_publicly,
                  created_at=utcnow())
        s.add(d)
        s.flush()
        open_account(s, holder_type=HOLDER, holder_id=d.id, purpose=Purpose.FUNDING)
        return donor_view(d)

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "donor", "town": town_id, "name": name, "kind": kind}).result, DonorView)


def _point_value(s: Session, village: Village, on: datetime) -> tuple[int, int]:
    """(fen per point, steps per point) of the catalog in force for the village."""
    for code in store.catalog_codes(s):
        c = store.catalog(s, code, on=local_date(on))
        if c.covers_village(village.name) and c.point_value_fen:
            return c.point_value_fen, c.scale
    raise InvalidInput("no catalog in force says what a point is worth (point_value_fen)",
                       code="point_value_missing")


def donate(db: Database, actor, *, donor_id: int, village_id: int, value_fen: int,
           shards: int, note: str = "", key: str | None = None,
           now: datetime | None = None) -> DonationView:
    """A money donation into a village's budget at its stated value."""
    require(actor, (TOWN_ADMIN,), None, "recording a donation")
    if not isinstance(value_fen, int) or not 0 < value_fen <= MAX_DONATION_FEN:
        raise InvalidInput(f"value_fen must be 1..{MAX_DONATION_FEN}", code="value_out_of_range",
                           field="value_fen")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"note: at most {MAX_NOTE_CHARS} characters", code="note_too_long")
    now = now or utcnow()

    def work(s: Session) -> dict:
        donor = s.get(Donor, donor_id)
        if donor is None:
            raise NotFound("no such donor", code="donor_not_found")
        village = s.get(Village, village_id)
        if village is None or village.town_id != donor.town_id:
            raise NotFound("no such village in the donor's town", code="village_not_found")
        fen_per_point, scale = _point_value(s, village, now)
        steps = value_fen * scale // fen_per_point
        if steps <= 0:
            raise InvalidInput("the donation is worth less than one step of a point",
                               code="value_below_one_step")
        source = open_account(s, holder_type=HOLDER, holder_id=donor.id, purpose=Purpose.FUNDING)
        parts = budget_shards(s, village_id, shards)
        share, rest = divmod(steps, len(parts))
        lines = [Line.of(source, -steps, hot=True)] + [
            Line.of(a, share + (rest if i == 0 else 0), hot=True)
            for i, a in enumerate(parts) if share + (rest if i == 0 else 0)]
        d = Donation(donor_id=donor.id, village_id=village_id, value_fen=value_fen,
                     points_steps=steps, entry_id=0, note=note, recorded_by=actor.user_id,
                     created_at=now)
        s.add(d)
        s.flush()
        e = post_entry(s, unit=Unit.POINTS, kind="donation", lines=lines,
                       memo=f"志愿服务基金捐赠：{donor.name}"[:500], source="fund",
                       source_ref=str(d.id), actor_id=actor.user_id,
                       details={"donor_id": donor.id, "value_fen": value_fen,
                                "fen_per_point": fen_per_point, "scale": scale}, now=now)
        d.entry_id = e.id
        return donation_view(d, village.name)

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "donation", "donor": donor_id, "village": village_id, "value_fen": value_fen,
        "note": note}).result, DonationView)


def donor_view(d: Donor) -> dict:
    return {"id": d.id, "name": d.name, "kind": d.kind, "thank_publicly": d.thank_publicly}


def donation_view(d: Donation, village: str) -> dict:
    return {"id": d.id, "donor_id": d.donor_id, "village_id": d.village_id, "village": village,
            "value_fen": d.value_fen, "points_steps": d.points_steps, "entry_id": d.entry_id,
            "note": d.note, "at": d.created_at.isoformat()}


def thanks(db: Database, town_id: int) -> list[DonorThanks]:
    """The public thank-you list: donors who agreed, with what they gave in all."""
    with db.sessions() as s:
        rows = s.execute(select(Donor, func.count(Donation.id), func.sum(Donation.value_fen))
                         .join(Donation, Donation.donor_id == Donor.id)
                         .where(Donor.town_id == town_id, Donor.thank_publicly.is_(True))
                         .group_by(Donor.id).order_by(func.sum(Donation.value_fen).desc()))
        return [DonorThanks(id=d.id, name=d.name, kind=d.kind, thank_publicly=d.thank_publicly,
                            donations=n, value_fen=int(v or 0)) for d, n, v in rows]


def statement(db: Database, donor_id: int) -> DonorStatement:
    """A donor's settlement statement: each donation, the entry that booked it, and the
    donor's ledger balance (minus what it put in, to the step)."""
    with db.sessions() as s:
        return _statement(s, donor_id)


def _statement(s: Session, donor_id: int) -> DonorStatement:
    d = s.get(Donor, donor_id)
    if d is None:
        raise NotFound("no such donor", code="donor_not_found")
    names = dict(s.execute(select(Village.id, Village.name)).all())
    items = [donation_view(x, names.get(x.village_id, "")) for x in s.scalars(
        select(Donation).where(Donation.donor_id == donor_id).order_by(Donation.id))]
    from ledger.journal.models import Account
    balance = s.scalar(select(Account.balance).where(
        Account.holder_type == HOLDER, Account.holder_id == donor_id,
        Account.purpose == Purpose.FUNDING, Account.unit == Unit.POINTS)) or 0
    return DonorStatement(id=d.id, name=d.name, kind=d.kind, thank_publicly=d.thank_publicly,
                          donations=msgspec.convert(items, list[DonationView]),
                          value_fen=sum(x["value_fen"] for x in items),
                          points_steps=sum(x["points_steps"] for x in items),
                          ledger_balance=balance)
