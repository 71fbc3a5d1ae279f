"""Version tokens of the public pages (ledger/readcache.py): one statement each says whether
what a page shows could have changed since it was last built.

The door plate shows the household's entries (its accounts' postings), its year's score and
stars (the rollups, applied per account), its states of standing (its postings, holds, its
awards' sanctions and the bans admins recorded), its amounts on public notice (its awards and
their workflow states), under the catalog and star thresholds in force. Its version is the
accounts' posting counts and holds, how far the rollups have applied them, its awards (how
many, their statuses, the latest change), its last standing change, the newest catalog version
and star configuration, the registry fields shown, and the local date. The ranking reads the
rollups of a whole town: its version is the tailer's cursor (moved after each catch-up has
committed what it applied), the registry's newest household, village and town, the catalog
and the date. Both catch up first when this process follows the journal itself (embedded), as
the pages do, so a committed award is in the version before it is compared. What no version
sees (a village renamed, a state of standing expiring with time) shows within
readcache.TTL_S.

The door plate's statement also returns what the page's first visit would otherwise read
again (schemas.PlateFacts): the household and village as the page shows them, the town, how
many of its awards are on notice, and its town's star configuration's id. The page is built
from those, so what it shows of them is exactly the state its version names.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from ledger import outbox
from ledger.db import Database
from ledger.recognition import rollups
from ledger.recognition.schemas import PageVersion, PlateFacts, PlateHousehold
from ledger.rules.desk import NOTICE_STATES
from ledger.rules.models import AwardStatus
from ledger.rules.periods import local_date
from ledger.timeutil import utcnow

_ACCOUNTS = ("FROM account a WHERE a.unit = 'points' AND a.holder_type = 'household' "
             "AND a.holder_id = h.id")
# each status its own weight: any one award changing status moves the sum by id × the difference
_STATUS_CODE = "CASE r.status " + " ".join(
    f"WHEN '{st.value}' THEN {i}" for i, st in enumerate(AwardStatus, 1)) + " ELSE 0 END"
_AWARDS = ("FROM rule_award r WHERE r.holder_type = 'household' AND r.holder_id = h.id")
_ON_NOTICE = ", ".join(f"'{st.value}'" for st in NOTICE_STATES)
_PLATE = text(
    "SELECT h.id, h.village_id, h.head_name, "
    f"(SELECT COALESCE(SUM(a.posting_count), 0) {_ACCOUNTS}), "
    f"(SELECT COALESCE(SUM(a.pending_out), 0) {_ACCOUNTS}), "
    f"(SELECT COALESCE(SUM(a.pending_in), 0) {_ACCOUNTS}), "
    "(SELECT COALESCE(SUM(g.applied_seq), 0) FROM rollup_progress g JOIN account a "
    "ON a.id = g.account_id WHERE a.unit = 'points' AND a.holder_type = 'household' "
    "AND a.holder_id = h.id), "
    "(SELECT MAX(c.id) FROM standing_change c WHERE c.holder_type = 'household' "
    "AND c.holder_id = h.id), "
    f"(SELECT COUNT(*) {_AWARDS}), (SELECT MAX(r.updated_at) {_AWARDS}), "
    f"(SELECT COALESCE(SUM(r.id * {_STATUS_CODE}), 0) {_AWARDS}), "
    "(SELECT MAX(id) FROM rule_catalog_version) AS catalog_stamp, "
    "(SELECT MAX(id) FROM star_config), "
    "v.name AS village, v.town_id, "
    f"(SELECT COUNT(*) {_AWARDS} AND r.status IN ({_ON_NOTICE})) AS on_notice, "
    "(SELECT c.id FROM star_config c WHERE c.town_id = v.town_id AND c.kind = 'household' "
    "ORDER BY c.version DESC LIMIT 1) AS star_config_id "
    "FROM household h JOIN village v ON v.id = h.village_id WHERE h.plate_code = :plate")
_RANKING = text(
    "SELECT (SELECT last_posting_id FROM rollup_cursor WHERE name = :cursor), "
    "(SELECT MAX(id) FROM household), (SELECT COUNT(*) FROM village), "
    "(SELECT MAX(id) FROM village), (SELECT MAX(id) FROM town), "
    "(SELECT MAX(id) FROM rule_catalog_version), (SELECT MAX(id) FROM star_config)")


def _token(row) -> str:  # noqa: ANN001
    raw = "|".join("" if v is None else str(v) for v in (*row, local_date(utcnow())))
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def _read(db: Database, statement, params: dict):  # noqa: ANN001, ANN202
    """Catch up first where this process follows the journal (embedded), then the version's
    one statement on a plain connection (no ORM session: this is the whole of a cache hit)."""
    if outbox.runs_inline(db.engine):
        with db.sessions() as s:
            rollups.catch_up_for_read(s)
    with db.engine.connect() as c:
        return c.execute(statement, params).first()


def plate_version(db: Database, plate_code: str) -> PageVersion | None:
    """The door plate's version (None: no such plate; the page answers its 404)."""
    row = _read(db, _PLATE, {"plate": plate_code})
    if row is None:
        return None
    return PageVersion(key=f"plate:{plate_code}", version=_token(row),
                       catalog_stamp=row.catalog_stamp, plate=PlateFacts(
                           household=PlateHousehold(
                               household_id=row.id, village_id=row.village_id,
                               village=row.village, town_id=row.town_id,
                               head_name=row.head_name),
                           on_notice=row.on_notice, star_config_id=row.star_config_id))


def ranking_version(db: Database, town_id: int | None) -> PageVersion:
    """The village ranking's version for a town (None: the page's default town)."""
    row = _read(db, _RANKING, {"cursor": rollups.CURSOR})
    return PageVersion(key=f"rank:{'' if town_id is None else town_id}", version=_token(row))
