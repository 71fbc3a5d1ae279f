"""Catalogs in the database: importing a file as a new approved version (items whose text
changed get a new item version), and finding the catalog and item in force on a date."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from weakref import WeakKeyDictionary

import msgspec
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.db import Database, sha256_hex
from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.journal.posting import canonical_json
from ledger.rules import catalog_io
from ledger.rules import spec as S
from ledger.rules.models import CatalogVersion, RuleCatalog, RuleCategory, RuleItem
from ledger.rules.periods import local_date
from ledger.rules.plain import item_dict
from ledger.rules.schemas import (CatalogImported, CatalogSummary, CatalogVersionView,
                                  ItemVersionView)
from ledger.timeutil import utcnow

MAX_CATALOGS = 50
_CACHE_SIZE = 64
# Parsed catalogs by content (file hash, version, item versions): rows never change, and the
# key stays right across databases.
_parsed: dict[tuple, S.Catalog] = {}
# Per database: the version rows of every catalog, with the stamp they were read at (the
# highest catalog version id: versions are only ever added, so a new one changes the stamp).
# The award path reads the stamp in a statement it sends anyway (rules/direct.py) and finds
# its catalog here without a query; a version published by any process is seen at its next
# award.
_versions: WeakKeyDictionary[Engine, tuple[int, dict[str, list]]] = WeakKeyDictionary()
CATALOG_STAMP_SQL = "(SELECT max(id) FROM rule_catalog_version)"


def _hash(obj) -> str:
    return sha256_hex(canonical_json(obj))


def import_catalog(db: Database, text: str, *, actor_id: int | None, town_id: int = 1,
                   approved_by: str | None = None, decision: str | None = None,
                   approved_on: date | None = None) -> CatalogImported:
    """Check a catalog file and store it as the next version of its catalog. A bad file is
    refused (line-level errors) and changes nothing; an identical file adds no version."""
    c = catalog_io.load_text(text)
    c = dataclasses.replace(c, approved_by=approved_by or c.approved_by,
                            decision=decision or c.decision,
                            approved_on=approved_on or c.approved_on)
    if not c.approved_by or not c.decision:
        raise InvalidInput("目录须写明批准单位和决议文号 (approval.approved_by and "
                           "approval.decision are required)", code="approval_required")
    plain = catalog_io.plain_json(c)
    with db.transaction() as s:
        return _store(s, c, plain, actor_id=actor_id, town_id=town_id)


def _store(s: Session, c: S.Catalog, plain: dict, *, actor_id: int | None, town_id: int
           ) -> CatalogImported:
    now = utcnow()
    row = s.scalar(select(RuleCatalog).where(RuleCatalog.code == c.code).with_for_update())
    if row is None:
        if (s.scalar(select(func.count()).select_from(RuleCatalog)) or 0) >= MAX_CATALOGS:
            raise Conflict(f"at most {MAX_CATALOGS} catalogs", code="too_many_catalogs")
        row = RuleCatalog(code=c.code, town_id=town_id, name=c.name, current_version=0,
                          created_at=now)
        s.add(row)
        s.flush()
    spec_hash = _hash(plain)
    latest = s.scalar(select(CatalogVersion).where(CatalogVersion.catalog_id == row.id)
                      .order_by(CatalogVersion.version.desc()).limit(1))
    if latest is not None and latest.spec_hash == spec_hash:
        return CatalogImported(catalog=c.code, version=latest.version, created=False,
                               items_new=[], items_changed=[], items_removed=[])
    version = (latest.version if latest else 0) + 1
    prev_items = dict(latest.item_versions) if latest else {}
    item_versions, new, changed = {}, [], []
    for code, item in c.items.items():
        spec = item_dict(c, code)
        spec["category"] = item.category
        h = _hash({"item": catalog_io.plain_json_value(spec), "scale": c.scale})
        last = s.scalar(select(RuleItem).where(RuleItem.catalog_id == row.id,
                                               RuleItem.code == code)
                        .order_by(RuleItem.version.desc()).limit(1))
        if last is not None and last.spec_hash == h:
            item_versions[code] = last.version
            continue
        v = (last.version if last else 0) + 1
        s.add(RuleItem(catalog_id=row.id, code=code, version=v, category_code=item.category,
                       name=item.name, spec=catalog_io.plain_json_value(spec), spec_hash=h,
                       first_catalog_version=version, created_at=now))
        item_versions[code] = v
        (changed if last is not None else new).append(code)
    cv = CatalogVersion(catalog_id=row.id, version=version, effective_from=c.effective_from,
                        spec=plain, spec_hash=spec_hash, item_versions=item_versions,
                        approved_by=c.approved_by, decision=c.decision,
                        approved_on=c.approved_on, loaded_by=actor_id, loaded_at=now)
    s.add(cv)
    s.flush()
    s.info.pop(_SESSION_ROWS, None)
    for i, cat in enumerate(c.categories):
        s.add(RuleCategory(catalog_version_id=cv.id, code=cat.code, name=cat.name, position=i))
    row.current_version, row.name = version, c.name
    return CatalogImported(catalog=c.code, version=version, created=True, items_new=new,
                           items_changed=changed,
                           items_removed=sorted(set(prev_items) - set(c.items)))


_LIGHT = (RuleCatalog.code, CatalogVersion.id, CatalogVersion.version,
          CatalogVersion.effective_from, CatalogVersion.spec_hash, CatalogVersion.item_versions)


def _parsed_for(s: Session, light) -> S.Catalog:
    """The parsed catalog of a version row (read light; the spec only on a cache miss)."""
    _, cv_id, version, _, spec_hash, item_versions = light
    key = (spec_hash, version, tuple(sorted(item_versions.items())))
    found = _parsed.get(key)
    if found is None:
        spec = s.scalar(select(CatalogVersion.spec).where(CatalogVersion.id == cv_id))
        c = catalog_io.from_plain(spec)
        items = {code: dataclasses.replace(it, version=item_versions.get(code, 0))
                 for code, it in c.items.items()}
        found = dataclasses.replace(c, items=items, version=version)
        if len(_parsed) >= _CACHE_SIZE:
            _parsed.pop(next(iter(_parsed)))
        _parsed[key] = found
    return found


def _choose(rows: list, on: date | None, version: int | None):
    """The version asked for, or the newest in force on `on` (or the earliest if none is yet,
    so that evaluation refuses with `rule_inactive`), or the newest. Rows by version."""
    if version is not None:
        return next((r for r in rows if r[2] == version), None)
    if on is not None:
        fit = [r for r in rows if r[3] <= on]
        return fit[-1] if fit else rows[0]
    return rows[-1]


def _light_rows(s: Session) -> dict[str, list]:
    q = select(*_LIGHT).join(CatalogVersion, CatalogVersion.catalog_id == RuleCatalog.id)
    out: dict[str, list] = {}
    for row in s.execute(q.order_by(RuleCatalog.id, CatalogVersion.version)).all():
        out.setdefault(row[0], []).append(row)
    return out


_SESSION_ROWS = "jifen.catalog_rows"


def _rows_this_transaction(s: Session) -> dict[str, list]:
    """Every catalog's version rows, read once per transaction of the session: a page asks
    for the scale and the catalogs covering a holder several times, and the expiry policy of
    each of a holder's postings (measured: a door plate sent 241 statements, 200 of them this
    read). `_store` forgets them when it adds a version; the next transaction reads again."""
    memo = s.info.get(_SESSION_ROWS)
    tx = s.get_transaction()
    if memo is not None and tx is not None and memo[0] is tx:
        return memo[1]
    rows = _light_rows(s)
    s.info[_SESSION_ROWS] = (s.get_transaction(), rows)
    stamp = _stamp_of(rows)
    if stamp is not None:  # what this process knows at that stamp, for `prime` and awards
        _versions[_engine(s)] = (stamp, rows)
    return rows


def _engine(s: Session) -> Engine:
    """The session's engine: `_versions`' key (a bind may be a connection)."""
    bind = s.get_bind()
    return getattr(bind, "engine", bind)


def _stamp_of(rows: dict[str, list]) -> int | None:
    """The stamp the rows are as of: their highest version id (every version belongs to a
    catalog, so this is CATALOG_STAMP_SQL's value in the snapshot they were read in)."""
    return max((r[1] for versions in rows.values() for r in versions), default=None)


def prime(s: Session, stamp: int | None) -> None:
    """This transaction's catalog version rows from this process's memory when it has them at
    `stamp` (CATALOG_STAMP_SQL, read moments before: by a page's version, so the page is built
    as of the state its cache key names; by a scan's first statement, so its standing check
    reads no catalog); else nothing changes and they are read at their first use."""
    known = known_versions(s, stamp)
    tx = s.get_transaction()
    if known is not None and tx is not None:
        s.info[_SESSION_ROWS] = (tx, known)


def versions_at(s: Session, stamp: int | None) -> dict[str, list]:
    """Every catalog's version rows as of `stamp` (see `_versions`): from memory when this
    process has read them at that stamp, else read once and remembered."""
    engine = _engine(s)
    found = _versions.get(engine)
    if found is not None and stamp is not None and found[0] == stamp:
        return found[1]
    rows = _light_rows(s)
    if stamp is not None:
        _versions[engine] = (stamp, rows)
    return rows


def known_versions(s: Session, stamp: int | None) -> dict[str, list] | None:
    """`versions_at` from memory only: None unless this process has read them at `stamp`."""
    found = _versions.get(_engine(s))
    return found[1] if found is not None and stamp is not None and found[0] == stamp else None


def _one(s: Session, code: str, on: date | None, version: int | None,
         rows_by_code: dict[str, list] | None = None):
    rows = (rows_by_code if rows_by_code is not None else _rows_this_transaction(s)).get(code)
    if not rows:
        raise NotFound(f"没有规则目录 {code!r} (no such catalog)", code="catalog_not_found")
    row = _choose(rows, on, version)
    if row is None:
        raise NotFound(f"catalog {code!r} has no version {version}",
                       code="catalog_version_not_found")
    return row


def version_row(s: Session, code: str, *, on: date | None = None,
                version: int | None = None) -> CatalogVersion:
    return s.get(CatalogVersion, _one(s, code, on, version)[1])


def catalog(s: Session, code: str, *, on: date | None = None,
            version: int | None = None, rows: dict[str, list] | None = None) -> S.Catalog:
    """`rows`: the version rows already at hand (`versions_at`), else they are read."""
    return _parsed_for(s, _one(s, code, on, version, rows))


def catalogs_in_force(s: Session, on: date, rows: dict[str, list] | None = None
                      ) -> list[S.Catalog]:
    """Every catalog, in the version in force on `on` (one query when cached; none when
    `rows` are given)."""
    return [_parsed_for(s, _choose(r, on, None))
            for r in (rows if rows is not None else _rows_this_transaction(s)).values()]


def catalogs_for(s: Session, village_name: str | None, now: datetime) -> list[S.Catalog]:
    """The catalogs in force now that cover the village."""
    on = local_date(now)
    cats = [_parsed_for(s, _choose(rows, on, None))
            for rows in _rows_this_transaction(s).values()]
    return [c for c in cats if c.covers_village(village_name)]


def scale_in_force(s: Session, on: date | None = None) -> int:
    """Steps per point for the town's points, from the rule catalogs in force on `on` (today;
    the largest, 2 where any catalog gives half points); 1 when none is loaded. With
    `ledger.units.points_of`, what turns stored steps into the points people read everywhere."""
    today = on or local_date(utcnow())
    scales = {_parsed_for(s, _choose(rows, today, None)).scale
              for rows in _rows_this_transaction(s).values()}
    return max(scales) if scales else 1


def points_scale(db: Database, on: date | None = None) -> int:
    """`scale_in_force` in a session of its own: what a page reads to show points."""
    with db.sessions() as s:
        return scale_in_force(s, on)


def catalog_town(s: Session, code: str) -> int:
    return s.scalar(select(RuleCatalog.town_id).where(RuleCatalog.code == code)) or 1


def catalog_codes(s: Session) -> list[str]:
    return list(s.scalars(select(RuleCatalog.code).order_by(RuleCatalog.id)))


def find_item(s: Session, item_code: str, *, on: date, village_name: str | None,
              catalog_code: str | None = None, rows: dict[str, list] | None = None
              ) -> tuple[S.Catalog, S.Item]:
    """`item_code` may be qualified (`baogai:A01`); a bare code must name exactly one item
    among the catalogs that cover the holder's village. `rows`: see `catalog`."""
    if catalog_code is None and ":" in item_code:
        catalog_code, item_code = item_code.split(":", 1)
    cats = [catalog(s, catalog_code, on=on, rows=rows)] if catalog_code \
        else catalogs_in_force(s, on, rows)
    hits = [c for c in cats
            if item_code in c.items and (catalog_code or c.covers_village(village_name))]
    if not hits:
        raise NotFound(f"没有条目 {item_code!r} (no such item in force)", code="item_unknown")
    if len(hits) > 1:
        raise Conflict(f"条目 {item_code!r} 在多个目录中，请写明目录 (in several catalogs: "
                       f"{', '.join(c.code for c in hits)}; qualify it as catalog:item)",
                       code="item_ambiguous", catalogs=[c.code for c in hits])
    return hits[0], hits[0].items[item_code]


def catalog_on(db: Database, code: str, on: date | None = None) -> S.Catalog:
    """A catalog, parsed, in the version in force on `on` (today): what the admin's pages
    show, edit and export."""
    with db.sessions() as s:
        return catalog(s, code, on=on or local_date(utcnow()))


def catalogs_on(db: Database, on: date | None = None) -> list[S.Catalog]:
    """Every catalog (in the order they were first loaded), each in its version in force on
    `on` (today)."""
    with db.sessions() as s:
        day = on or local_date(utcnow())
        return [catalog(s, code, on=day) for code in catalog_codes(s)]


def catalog_list(db: Database) -> list[CatalogSummary]:
    """Every catalog at its newest version (public)."""
    with db.sessions() as s:
        out = []
        for code in catalog_codes(s):
            row = version_row(s, code)
            c = catalog(s, code, version=row.version)
            out.append(CatalogSummary(
                code=code, name=c.name, demo=c.demo, version=row.version,
                effective_from=row.effective_from.isoformat(), approved_by=row.approved_by,
                decision=row.decision, villages=list(c.villages), items=len(c.items)))
        return out


def catalog_version(db: Database, code: str, version: int | None = None) -> CatalogVersionView:
    """One version of a catalog (the newest when `version` is None) as stored (public)."""
    with db.sessions() as s:
        row = version_row(s, code, version=version)
        return CatalogVersionView(code=code, version=row.version, approved_by=row.approved_by,
                                  decision=row.decision, loaded_at=row.loaded_at.isoformat(),
                                  item_versions=row.item_versions, spec=row.spec)


def export_text(db: Database, code: str, version: int | None = None) -> str:
    """One version of a catalog (the newest when `version` is None) as a catalog file."""
    with db.sessions() as s:
        return catalog_io.dump_text(catalog(s, code, version=version))


def item_versions(db: Database, code: str, item_code: str) -> list[ItemVersionView]:
    """Every version of one item of a catalog, oldest first (public)."""
    with db.sessions() as s:
        return msgspec.convert(item_history(s, code, item_code), list[ItemVersionView])


def item_history(s: Session, code: str, item_code: str) -> list[dict]:
    cat = s.scalar(select(RuleCatalog).where(RuleCatalog.code == code))
    if cat is None:
        raise NotFound(f"no catalog {code!r}", code="catalog_not_found")
    return [{"version": r.version, "name": r.name, "spec": r.spec,
             "first_catalog_version": r.first_catalog_version,
             "created_at": r.created_at.isoformat()}
            for r in s.scalars(select(RuleItem).where(RuleItem.catalog_id == cat.id,
                                                      RuleItem.code == item_code)
                               .order_by(RuleItem.version))]


def load_shipped(db: Database, code: str = catalog_io.DEFAULT_CATALOG, *,
                 actor_id: int | None = None) -> CatalogImported:
    """Load one of the catalogs shipped with Jifen (Baogai's demo is the default)."""
    return import_catalog(db, catalog_io.shipped_path(code).read_text(encoding="utf-8"),
                          actor_id=actor_id)


def ensure_default_catalog(db: Database) -> CatalogImported | None:
    """Load Baogai's demo catalog if no catalog is stored yet (for `jifen demo`)."""
    with db.sessions() as s:
        if catalog_codes(s):
            return None
    return load_shipped(db)
