"""The civility score in public (its one definition: scores.py): a household's door-plate
block and page, and one town's village ranking. Each answer opens its own session and is typed
(schemas.py); amounts stay in steps, the pages show them through `pts`."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, String, bindparam, column, func, select, text
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import NotFound
from ledger.identity.actor import Actor, may
from ledger.recognition import rollups, scores, stars
from ledger.recognition.schemas import (DoorPlate, PlateEntry, PlateFacts, PlateHousehold,
                                        PlateItem, PlateStars, PublicHouse, RankedVillage,
                                        RankPage, VillageRanking)
from ledger.registry.lookup import household_by_plate
from ledger.registry.models import Household, Person, Town, Village
from ledger.registry.privacy import mask_given_name
from ledger.rules.periods import DEED_LEAD, local_date, local_midnight
from ledger.rules.store import scale_in_force
from ledger.timeutil import UTCDateTime, utcnow
from ledger.units import mean_points, mean_points_text

PUBLIC_ENTRIES = 10  # the latest counted amounts a door plate lists
MAX_TOWNS_LISTED = 200  # the town select on the ranking page


def this_year() -> int:
    """The current year in the town's time zone."""
    return local_date(utcnow()).year


def year_start_utc(year: int | None = None) -> datetime:
    """1 January (of `year`, default this one), 00:00 in the town's time zone, as an instant."""
    return local_midnight(date(year or this_year(), 1, 1))


def _counted_sql(dialect: str):
    """The statement `_counted` runs: the filters in SQL, by the same twins the rollups are
    built with (scores.deed_time_sql, NON_SCORE_KINDS), so that a household's listed entries
    are exactly those its score (read from the rollups) adds up; only the item's name is
    taken from the details, not the whole JSON. `p.created_at >= :posted_lo` only spares the
    index scan the years before: a deed is never later than its posting by more than
    periods.DEED_LEAD."""
    deed = scores.deed_time_sql(dialect)
    name = ("NULLIF(e.details::jsonb ->> 'item_name', '')" if dialect == "postgresql"
            else "NULLIF(json_extract(e.details, '$.item_name'), '')")
    skip = ", ".join(f"'{k}'" for k in sorted(scores.NON_SCORE_KINDS))
    return text(
        f"SELECT p.amount, p.created_at, COALESCE({name}, NULLIF(e.memo, '')), e.kind "
        "FROM posting p JOIN journal_entry e ON e.id = p.entry_id "
        "LEFT JOIN journal_entry r ON r.id = e.reverses_id "
        "WHERE p.account_id IN (SELECT a.id FROM account a WHERE a.holder_type = 'household' "
        "AND a.holder_id = :hid AND a.unit = 'points' AND a.purpose IN ('points', 'score')) "
        "AND p.created_at >= :posted_lo "
        f"AND COALESCE(CASE WHEN e.kind = 'reverse' THEN r.kind END, e.kind) NOT IN ({skip}) "
        f"AND {deed} >= :lo AND {deed} < :hi "
        "ORDER BY p.created_at DESC, p.id DESC"
    ).bindparams(bindparam("posted_lo", type_=UTCDateTime()),
                 bindparam("lo", type_=UTCDateTime()), bindparam("hi", type_=UTCDateTime())
                 ).columns(column("amount", BigInteger), column("at", UTCDateTime()),
                           column("title", String), column("kind", String))


_COUNTED = {d: _counted_sql(d) for d in ("postgresql", "sqlite")}


def _counted(s: Session, household_id: int, lo: datetime, hi: datetime):
    """(amount, at, item name or memo, kind) of the household's postings that count in the
    score (`scores.counts_in_score`) with their deed in [lo, hi), newest first: its own
    points and its members' deeds counted for it (ledger/rules/wallets.py)."""
    return s.execute(_COUNTED[s.get_bind().dialect.name],
                     {"hid": household_id, "posted_lo": lo - DEED_LEAD, "lo": lo, "hi": hi}).all()


def public_house(s: Session, hh: PlateHousehold, *, year: int | None = None, standing=None,
                 stars_cfg: stars.Config | None = None) -> PublicHouse:
    """What a door plate shows anyone: village, masked name, the year's civility score
    (scores.py: awards and deductions of deeds done in the year, reversals as what they
    reverse; spending at the shop is not civility), the latest of those entries and their
    sums by item (title, date, points — never notes, photos or people). The score is read
    from the rollups (caught up first); the entries are the same ones, from the household's
    own accounts. `standing`: the household's standing refreshed in this session
    (ledger.rules.standing.refreshed), which the stars read; else the stars refresh it.
    `stars_cfg`: its town's household star configuration, when the caller has it."""
    year = year or this_year()
    rollups.catch_up_for_read(s)
    held = stars.household_plate(s, hh.household_id, standing=standing, town_id=hh.town_id,
                                 year_of=scores.year_bounds(year), cfg=stars_cfg)
    score = held["year_score"]
    entries: list[PlateEntry] = []
    by_item: dict[tuple[str | None, str], PlateItem] = {}
    for amount, at, title, kind in _counted(s, hh.household_id, year_start_utc(year),
                                            year_start_utc(year + 1)):
        if len(entries) < PUBLIC_ENTRIES:
            entries.append(PlateEntry(title=title, kind=kind, at=at, amount=amount))
        key = (title, kind if title is None else "")  # untitled: by kind, as the page names it
        agg = by_item.setdefault(key, PlateItem(title=title, kind=kind, times=0, amount=0))
        agg.times += 1
        agg.amount += amount
    return PublicHouse(household_id=hh.household_id, village_id=hh.village_id,
                       village=hh.village, name=mask_given_name(hh.head_name), score=score,
                       year=year, entries=entries,
                       by_item=sorted(by_item.values(), key=lambda r: -abs(r.amount)),
                       stars=PlateStars(stars=held["stars"], capped_by=held["capped_by"]))


def _plate_household(hh: Household, village: Village) -> PlateHousehold:
    return PlateHousehold(household_id=hh.id, village_id=hh.village_id, village=village.name,
                          town_id=village.town_id, head_name=hh.head_name)


def household_public(db: Database, household_id: int, *, year: int | None = None
                     ) -> PublicHouse:
    """A household's public block (`public_house`) by its id."""
    with db.sessions() as s:
        hh = s.get(Household, household_id)
        if hh is None:
            raise NotFound(f"household {household_id} does not exist",
                           code="household_not_found")
        return public_house(s, _plate_household(hh, s.get(Village, hh.village_id)), year=year)


def village_ranking_in(s: Session, town_id: int, *, year: int | None = None
                       ) -> VillageRanking:
    """The villages of one town by the year's average household civility score
    (scores.village_totals, from the rollups; households with no entries count as zero):
    ordered by the exact average, shown in points to two decimals (ledger.units), never
    truncated. Villages of other towns are not compared: each town ranks its own."""
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
        villages.append(RankedVillage(village_id=vid, village=name, households=n, total=total,
                                      average_points=mean_points(total, n, scale),
                                      average_text=mean_points_text(total, n, scale)))
    villages.sort(key=lambda r: (-r.average_points, r.village_id))
    return VillageRanking(town_id=town_id, villages=villages, since=year_start_utc(year),
                          year=year, scale=scale)


def village_ranking(db: Database, town_id: int, *, year: int | None = None) -> VillageRanking:
    with db.sessions() as s:
        return village_ranking_in(s, town_id, year=year)


def _viewer_town(s: Session, actor: Actor | None) -> int | None:
    """The town of the village the viewer works in or lives in; None for a visitor or a
    town-wide role (they choose)."""
    village = next((v for _, v in (actor.roles if actor else ()) if v is not None), None)
    if village is None and actor is not None and actor.person_id is not None:
        village = s.scalar(select(Person.village_id).where(Person.id == actor.person_id))
    if village is None:
        return None
    return s.scalar(select(Village.town_id).where(Village.id == village))


def rank_page(db: Database, actor: Actor | None, town_id: int | None = None) -> RankPage:
    """One town's ranking: the town chosen (it must exist), else the viewer's, else the
    first."""
    with db.sessions() as s:
        towns = [(int(i), n) for i, n in s.execute(select(Town.id, Town.name).order_by(Town.id)
                                                   .limit(MAX_TOWNS_LISTED))]
        names = dict(towns)
        if town_id is not None and town_id not in names:
            raise NotFound(f"town {town_id} does not exist", code="town_not_found")
        town = town_id or _viewer_town(s, actor) or (towns[0][0] if towns else 0)
        ranking = village_ranking_in(s, town)
    return RankPage(towns=towns, town_id=town, town_name=names.get(town, ""), ranking=ranking)


def door_plate(db: Database, plate_code: str, actor: Actor | None, *,
               channel: str = "inspector", catalog_stamp: int | None = None,
               facts: PlateFacts | None = None) -> DoorPlate:
    """The door-plate page in one session: the public block; for an inspector of the
    household's village, exactly the items the engine accepts from them for it (through
    `channel`) and its whole standing (rules/thresholds); the household's amounts on notice
    and, for a member, its deductions. Standing is refreshed once, for the stars and the
    public block. `catalog_stamp`: the rule catalogs' stamp the page's version was read at
    (freshness.plate_version): their version rows then come from this process's memory.
    `facts`: what that version's statement read of the household (a visitor's page): the page
    takes the household and village from it, its star configuration by the id it names, and
    reads no notices when none was on notice."""
    from ledger.rules import desk, offers, store
    from ledger.rules import standing as standing_states
    from ledger.rules.schemas import PlateWorkflow
    from ledger.rules.thresholds import standing as whole_standing
    if facts is not None and actor is not None:
        raise AssertionError("facts are read for a visitor's page, which has no actor")
    with db.sessions() as s:
        s.begin()  # prime's rows belong to a transaction: begun here, none read before them
        hh = (_plate_household(*household_by_plate(s, plate_code)) if facts is None
              else facts.household)
        store.prime(s, catalog_stamp)
        inspector = may(actor, "household.inspect", hh.village_id)
        states = (None if inspector
                  else standing_states.refreshed(s, "household", hh.household_id))
        cfg = (None if facts is None
               else stars.config_by_id(s, facts.star_config_id, stars.StarKind.HOUSEHOLD))
        house = public_house(s, hh, standing=states, stars_cfg=cfg)
        offered = offers.offers(s, actor, channel=channel, subject="household",
                                villages={hh.village_id: hh.village}) if inspector else []
        workflow = (PlateWorkflow(notices=[], deductions=[])
                    if facts is not None and facts.on_notice == 0  # a visitor: no deductions
                    else desk.plate(s, hh.household_id, actor))
        held = (whole_standing(s, "household", hh.household_id) if inspector
                else {"states": [x.as_dict() for x in states.states]})
        return DoorPlate(house=house, inspector=inspector, offered=offered, workflow=workflow,
                         standing=held, scale=scale_in_force(s))
