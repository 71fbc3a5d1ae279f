"""Read models the pages show, built from the domain's own query functions: a holder's
balances and statement, and each journal entry put in words (what, why, from which evidence)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from ledger.journal import queries
from ledger.journal.accounts import holder_accounts
from ledger.journal.queries import points_account
from ledger.journal.models import Purpose, Unit
from ledger.rules.store import scale_in_force

HISTORY_PAGE = 20
# Entry details → message keys, in the order a person reads them. Rule awards carry catalog,
# versions and inputs (ledger.rules.service.entry_details); other entries their own keys.
WHY_KEYS = (("item_name", "why.item"), ("item", "why.item_code"),
            ("activity_title", "why.activity"), ("minutes", "why.minutes"),
            ("counted_minutes", "why.minutes"), ("base_points", "why.base_points"),
            ("note", "why.note"), ("level", "why.level"), ("reward_name", "why.reward"),
            ("order_id", "why.order"), ("quantity", "why.quantity"))
INPUT_KEYS = ("activity_title", "activity_id", "minutes", "note", "level", "inspection_id")






def _fmt(value) -> str:
    if isinstance(value, dict):
        return "，".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "，".join(_fmt(v) for v in value)
    return str(value)


def explain(item: dict, t) -> dict:
    """A statement line as the history shows it: a title and the 'why' rows (rule item and
    its version, the activity or inspection behind it, multiplier, source, entry number)."""
    d = dict(item.get("details") or {})
    inputs = dict(d.get("inputs") if isinstance(d.get("inputs"), dict) else {})
    if isinstance(inputs.get("refs"), dict):  # the activity or inspection behind the award
        inputs = {**inputs["refs"], **inputs}
    for k in INPUT_KEYS:  # the evidence the rule used: activity, minutes, note
        if inputs.get(k) not in (None, "") and d.get(k) in (None, ""):
            d[k] = inputs[k]
    why = []
    seen = set()
    for key, label in WHY_KEYS:
        if d.get(key) not in (None, "", [], {}) and label not in seen:
            why.append((t(label), _fmt(d[key])))
            seen.add(label)
    if d.get("catalog"):
        why.append((t("why.version"), t("why.version_text", catalog=d["catalog"],
                                        cv=d.get("catalog_version", "?"),
                                        iv=d.get("item_version", "?"))))
    mult = d.get("multiplier")
    if isinstance(mult, dict) and mult:
        why.append((t("why.multiplier"), _fmt(mult.get("name") or mult)
                    + (f" ×{mult['factor']}" if mult.get("factor") else "")))
    if d.get("activity_id"):
        why.append((t("why.activity_id"), f"#{d['activity_id']}"))
    if d.get("inspection_id"):
        why.append((t("why.inspection"), f"#{d['inspection_id']}"))
    if item.get("source"):
        why.append((t("why.source"), t("source." + item["source"], default=item["source"])))
    if item.get("reverses_id"):
        why.append((t("why.reverses"), f"#{item['reverses_id']}"))
    why.append((t("why.entry"), f"#{item['entry_id']}"))
    title = d.get("item_name") or item.get("memo") or t("kind." + item["kind"],
                                                        default=item["kind"])
    return {"amount": item["amount"], "kind": item["kind"], "at": item["at"], "title": title,
            "why": why}


def history(s: Session, holder_type: str, holder_id: int, t, *, before_seq: int | None = None,
            unit: str = Unit.POINTS) -> dict:
    acct = points_account(s, holder_type, holder_id, unit)
    if acct is None:
        return {"items": [], "next_before_seq": None}
    st = queries.statement(s, acct.id, limit=HISTORY_PAGE, before_seq=before_seq)
    return {"items": [explain(i, t) for i in st["items"]],
            "next_before_seq": st["next_before_seq"]}






def item_points_text(c, it, t, *, sign: bool = False) -> str:  # noqa: ANN001
    """What an item is worth, as a form or the catalog page shows it: "+5", "2 ~ 10",
    "国家级 100，省级 50" (level names in the page's language)."""
    if it.range_steps is not None:
        return f"{c.points(it.range_steps[0])} ~ {c.points(it.range_steps[1])}"
    if it.levels:
        return "，".join(f"{t('level.' + name, default=name)} {c.points(v)}"
                        for name, v in it.levels)
    n = c.points(it.points_steps or 0)
    return f"{n:+}" if sign else str(n)


PUBLIC_ENTRIES = 10


def this_year() -> int:
    """The current year in the town's time zone."""
    from ledger.rules.periods import local_date
    from ledger.timeutil import utcnow
    return local_date(utcnow()).year


def year_start_utc(year: int | None = None):
    """1 January (of `year`, default this one), 00:00 in the town's time zone, as an instant."""
    from ledger.rules.periods import local_midnight
    return local_midnight(date(year or this_year(), 1, 1))


def household_public(s: Session, hh, t, *, year: int | None = None, standing=None) -> dict:
    """What a door plate shows anyone: village, masked name, the year's civility score
    (ledger/recognition/scores.py: awards and deductions of deeds done in the year, reversals
    as what they reverse; spending at the shop is not civility), the latest of those entries
    and their sums by item (title, date, points — never notes, photos or people). The score
    is read from the rollups (caught up first); the entries are the same ones, from the
    household's own accounts. `standing`: the household's standing refreshed in this session
    (ledger.rules.standing.refresh), which the stars read; else the stars refresh it."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from api.pages.filters import mask_name
    from ledger.journal.models import HolderType, JournalEntry, Posting
    from ledger.recognition import rollups, scores
    from ledger.registry.models import Village
    from ledger.rules.periods import deed_time
    year = year or this_year()
    start, end = scores.year_bounds(year)
    lo, hi = year_start_utc(year), year_start_utc(year + 1)
    rollups.catch_up_for_read(s)
    score = scores.household_score(s, hh.id, start, end)
    # its own points and its members' deeds counted for it (ledger/rules/wallets.py)
    accts = [a.id for a in holder_accounts(s, HolderType.HOUSEHOLD, hh.id)
             if a.unit == Unit.POINTS and a.purpose in (Purpose.POINTS, Purpose.SCORE)]
    entries, by_item = [], {}
    if accts:
        r = aliased(JournalEntry)
        rows = s.execute(select(Posting.amount, Posting.created_at, JournalEntry.details,
                                JournalEntry.memo, JournalEntry.kind, r.kind)
                         .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                         .outerjoin(r, r.id == JournalEntry.reverses_id)
                         .where(Posting.account_id.in_(accts))
                         .order_by(Posting.created_at.desc(), Posting.id.desc())).all()
        for amount, at, details, memo, kind, rkind in rows:
            d = details if isinstance(details, dict) else {}
            if not scores.counts_in_score(kind, rkind) or not lo <= deed_time(d, at) < hi:
                continue
            title = d.get("item_name") or memo or t("kind." + kind, default=kind)
            if len(entries) < PUBLIC_ENTRIES:
                entries.append({"title": title, "at": at, "amount": amount})
            agg = by_item.setdefault(title, {"title": title, "times": 0, "amount": 0})
            agg["times"] += 1
            agg["amount"] += amount
    village = s.get(Village, hh.village_id)
    from api.pages import stars as star_info
    return {"village_id": hh.village_id, "village": village.name if village else "",
            "name": mask_name(hh.head_name), "score": score, "year": year, "entries": entries,
            "by_item": sorted(by_item.values(), key=lambda r: -abs(r["amount"])),
            "stars": star_info.household(s, hh.id, score, standing)}


def village_ranking(s: Session, town_id: int, *, year: int | None = None) -> dict:
    """The villages of one town by the year's average household civility score
    (scores.village_totals, from the rollups; households with no entries count as zero), for
    the public ranking page and its chart: ordered by the exact average, shown in points to two
    decimals (ledger.units), never truncated. Villages of other towns are not compared: each
    town ranks its own."""
    from sqlalchemy import func, select

    from ledger.recognition import rollups, scores
    from ledger.registry.models import Household, Village
    from ledger.units import mean_points, mean_points_text
    year = year or this_year()
    scale = scale_in_force(s)
    rollups.catch_up_for_read(s)
    mine = select(Village.id).where(Village.town_id == town_id)
    counts = dict(s.execute(select(Household.village_id, func.count())
                            .where(Household.village_id.in_(mine))
                            .group_by(Household.village_id)).all())
    totals = scores.village_totals(s, *scores.year_bounds(year))
    villages = []
    for vid, name in s.execute(select(Village.id, Village.name)
                               .where(Village.town_id == town_id).order_by(Village.id)):
        n = counts.get(vid, 0)
        if n == 0:
            continue
        total = int(totals.get(vid) or 0)
        villages.append({"village_id": vid, "village": name, "households": n, "total": total,
                         "average_points": mean_points(total, n, scale),
                         "average_text": mean_points_text(total, n, scale)})
    villages.sort(key=lambda r: (-r["average_points"], r["village_id"]))
    return {"villages": villages, "since": year_start_utc(year), "year": year, "scale": scale}
