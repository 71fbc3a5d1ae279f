"""Configuring benefits (town admins), claiming a pass (a volunteer with enough stars, within
the benefit's uses a year or once ever), checking a pass by its code (anyone: the merchant
scans the QR) and marking it used (staff or a clerk): each step its own refusal code. A
benefit costs no points: nothing here touches the journal."""

from __future__ import annotations

import secrets
from datetime import datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.courtesy.models import Benefit, Pass
from ledger.courtesy.schemas import BenefitView, MyCourtesy, PassCheck, PassView
from ledger.db import Database
from ledger.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.identity.actor import may, require
from ledger.identity.roles import CLERK, TOWN_ADMIN, VILLAGE_ADMIN
from ledger.journal import book
from ledger.recognition.stars import MAX_LEVEL, star_level
from ledger.registry.models import Person, Village
from ledger.registry.privacy import mask_name
from ledger.timeutil import LOCAL_TZ, utcnow

KINDS = ("screening", "discount", "bonus")
MAX_USES_PER_YEAR = 366
MAX_BENEFITS = 50
CODE_BYTES = 12
USERS_OF_PASSES = (TOWN_ADMIN, VILLAGE_ADMIN, CLERK)


def add_benefit(db: Database, actor, *, town_id: int, name: str, kind: str, min_stars: int,
                uses_per_year: int = 1, once_ever: bool = False, partner: str = "",
                key: str | None = None) -> BenefitView:
    require(actor, (TOWN_ADMIN,), None, "configuring courtesy benefits")
    name, partner = (name or "").strip(), (partner or "").strip()
    if not name or len(name) > 100 or len(partner) > 100:
        raise InvalidInput("name 1..100 characters, partner at most 100", code="name_invalid")
    if kind not in KINDS:
        raise InvalidInput(f"kind is one of {', '.join(KINDS)}", code="benefit_kind_unknown")
    if not isinstance(min_stars, int) or not 1 <= min_stars <= MAX_LEVEL:
        raise InvalidInput(f"min_stars is 1..{MAX_LEVEL}", code="min_stars_out_of_range")
    if not isinstance(uses_per_year, int) or not 1 <= uses_per_year <= MAX_USES_PER_YEAR:
        raise InvalidInput(f"uses_per_year is 1..{MAX_USES_PER_YEAR}",
                           code="uses_out_of_range")

    def work(s: Session) -> dict:
        n = s.scalar(select(func.count()).select_from(Benefit).where(Benefit.town_id == town_id))
        if n >= MAX_BENEFITS:
            raise InvalidInput(f"a town has at most {MAX_BENEFITS} benefits",
                               code="benefits_too_many")
        b = Benefit(town_id=town_id, name=name, kind=kind, partner=partner, min_stars=min_stars,
                    uses_per_year=uses_per_year, once_ever=once_ever, active=True,
                    created_at=utcnow())
        s.add(b)
        s.flush()
        return benefit_view(b)

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "courtesy_benefit", "town": town_id, "name": name, "kind": kind}).result,
        BenefitView)


def benefit_view(b: Benefit) -> dict:
    return {"id": b.id, "name": b.name, "kind": b.kind, "partner": b.partner,
            "min_stars": b.min_stars, "uses_per_year": b.uses_per_year,
            "once_ever": b.once_ever, "active": b.active}


def _used(s: Session, b: Benefit, person_id: int, year: int) -> int:
    q = select(func.count()).select_from(Pass).where(Pass.benefit_id == b.id,
                                                     Pass.person_id == person_id)
    if not b.once_ever:
        q = q.where(Pass.year == year)
    return int(s.scalar(q) or 0)


def _limit(b: Benefit) -> int:
    return 1 if b.once_ever else b.uses_per_year


def mine(db: Database, person_id: int, now: datetime | None = None) -> MyCourtesy:
    """The benefits of the person's town, whether each is open to them, and their passes."""
    with db.sessions() as s:
        return msgspec.convert(_mine(s, person_id, now), MyCourtesy)


def _mine(s: Session, person_id: int, now: datetime | None) -> dict:
    p = s.get(Person, person_id)
    if p is None:
        raise NotFound("no such person", code="person_not_found")
    town_id = s.get(Village, p.village_id).town_id
    year = (now or utcnow()).astimezone(LOCAL_TZ).year
    stars = star_level(s, "person", person_id)
    benefits = []
    for b in s.scalars(select(Benefit).where(Benefit.town_id == town_id,
                                             Benefit.active.is_(True)).order_by(Benefit.id)):
        used = _used(s, b, person_id, year)
        benefits.append({**benefit_view(b), "used": used, "left": max(_limit(b) - used, 0),
                         "open": stars >= b.min_stars and used < _limit(b)})
    names = {b["id"]: b["name"] for b in benefits}
    passes = [pass_view(x, names.get(x.benefit_id, "")) for x in s.scalars(
        select(Pass).where(Pass.person_id == person_id).order_by(Pass.id.desc()).limit(50))]
    return {"stars": stars, "benefits": benefits, "passes": passes}


def claim(db: Database, actor, benefit_id: int, *, key: str | None = None,
          now: datetime | None = None) -> PassView:
    """Issue a pass for the signed-in volunteer."""
    if actor.person_id is None:
        raise Forbidden("请以志愿者身份登录", code="volunteer_required")
    now = now or utcnow()

    def work(s: Session) -> dict:
        b = s.get(Benefit, benefit_id)
        if b is None or not b.active:
            raise NotFound("no such benefit", code="benefit_not_found")
        person = s.get(Person, actor.person_id)
        if s.get(Village, person.village_id).town_id != b.town_id:
            raise Forbidden("this benefit is another town's", code="benefit_other_town")
        stars = star_level(s, "person", person.id)
        if stars < b.min_stars:
            raise Forbidden(f"需达到 {b.min_stars} 星（当前 {stars} 星）", code="stars_too_few",
                            stars=stars, min_stars=b.min_stars)
        year = now.astimezone(LOCAL_TZ).year
        if _used(s, b, person.id, year) >= _limit(b):
            raise Conflict("本项礼遇已用完" + ("" if b.once_ever else "（本年度）"),
                           code="benefit_used_up")
        x = Pass(benefit_id=b.id, person_id=person.id, year=year, stars_at_issue=stars,
                 code=secrets.token_urlsafe(CODE_BYTES), issued_at=now)
        s.add(x)
        s.flush()
        return pass_view(x, b.name)

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "courtesy_claim", "benefit": benefit_id}).result, PassView)


def pass_view(x: Pass, benefit: str) -> dict:
    return {"id": x.id, "benefit_id": x.benefit_id, "benefit": benefit, "code": x.code,
            "year": x.year, "stars": x.stars_at_issue, "issued_at": x.issued_at.isoformat(),
            "used_at": x.used_at.isoformat() if x.used_at else None}


def check(db: Database, code: str) -> PassCheck:
    """What a pass's QR opens, for anyone: the benefit, the holder's masked name, valid or used."""
    with db.sessions() as s:
        return msgspec.convert(_check(s, code), PassCheck)


def _check(s: Session, code: str) -> dict:
    x = s.scalar(select(Pass).where(Pass.code == code)) if code else None
    if x is None:
        raise NotFound("礼遇凭证无效", code="pass_not_found")
    b = s.get(Benefit, x.benefit_id)
    p = s.get(Person, x.person_id)
    return {**pass_view(x, b.name), "partner": b.partner, "kind": b.kind,
            "holder": mask_name(p.name), "valid": x.used_at is None,
            "village_id": p.village_id}


def use(db: Database, actor, code: str, *, now: datetime | None = None) -> PassCheck:
    """Mark a pass used, once (a clerk at the partner's counter, or staff)."""
    now = now or utcnow()

    def work(s: Session) -> dict:
        x = s.scalar(select(Pass).where(Pass.code == code).with_for_update())
        if x is None:
            raise NotFound("礼遇凭证无效", code="pass_not_found")
        village = s.get(Person, x.person_id).village_id
        if not may(actor, USERS_OF_PASSES, village):
            raise Forbidden("只有店员或站点工作人员可以核销", code="not_pass_clerk")
        if x.used_at is not None:
            raise Conflict("此凭证已使用", code="pass_used", used_at=x.used_at.isoformat())
        x.used_at, x.used_by = now, actor.user_id
        return _check(s, code)

    return msgspec.convert(book.write(db, work, request={"op": "courtesy_use",
                                                         "code": code}).result, PassCheck)
