"""The rules' answers as types, so the API's schema documents each body and a view that drifts
from its type fails at the boundary (`msgspec.convert`), not in a client.

Amounts: `*_steps` are the ledger's integers, `points` the same at the catalog's scale
(`ledger.units.points_of`: whole numbers stay whole, half points are x.5). What a catalog
writes freely (an item's spec, a decision's inputs, caps and sanction, a state's terms) stays
an object here: its shape is the catalog's (docs/rules.md), not the API's.

Over 400 lines: every answer of the rules (the API's and the workflow pages') in one place,
one small type each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from ledger.units import Points, PointsOrNone
from ledger.view import View

Obj = dict[str, Any]
UNSET = msgspec.UNSET


class CatalogSummary(View):
    """A catalog in force: its newest version, the villages it covers, how many items."""
    code: str
    name: str
    demo: bool
    version: int
    effective_from: str
    approved_by: str | None
    decision: str | None
    villages: list[str]
    items: int


class CatalogVersionView(View):
    """One stored version of a catalog: its approval, each item's version, the spec itself."""
    code: str
    version: int
    approved_by: str | None
    decision: str | None
    loaded_at: str
    item_versions: dict[str, int]
    spec: Obj


class ItemVersionView(View):
    version: int
    name: str
    spec: Obj
    first_catalog_version: int
    created_at: str


class CatalogImported(View):
    """`created: false` when the file equals the newest version (no version added)."""
    catalog: str
    version: int
    created: bool
    items_new: list[str]
    items_changed: list[str]
    items_removed: list[str]


class CreditView(View):
    holder_type: str
    holder_id: int
    points: Points
    steps: int
    minutes: int
    held: bool  # false: counted in this holder's score, held in another's wallet
    caps: list[Obj]


class DecisionView(View):
    """The engine's decision, explained: allowed or why not (`reason`, a stable code), and
    what each holder would be credited under which caps and multiplier."""
    ok: bool
    reason: str | None
    message: str
    detail: Obj
    catalog: str
    catalog_version: int
    item: str
    item_version: int
    scale: int
    inputs: Obj
    base_points: Points
    multiplier: Obj | None
    multipliers_matched: list[str]
    credits: list[CreditView]
    minutes_input: int | None
    notice_days: int
    needs_review: bool
    sanction: Obj | None
    rollup_refused: Obj | None
    backdate_days: int


class AwardView(View):
    """An award record as it stands (`status`), with the decision stored when it was made.
    An objection's answer names the objection (`objection_id`)."""
    award_id: int
    status: str
    catalog: str
    catalog_version: int
    item: str
    item_version: int
    item_name: str
    holder_type: str
    holder_id: int
    village_id: int | None
    points: Points
    steps: int
    minutes: int | None
    channel: str
    recorder_id: int | None
    occurred_at: str
    notice_until: str | None
    entry_id: int | None
    minutes_entry_id: int | None
    entry_ids: list[int] | None
    decision: Obj | None
    objection_id: int | msgspec.UnsetType = UNSET


class AppealView(View):
    appeal_id: int
    award_id: int
    status: str
    reason: str
    appellant_id: int | None
    created_at: str
    decided_by: int | None
    decided_at: str | None
    decision_note: str | None
    reversal_entry_id: int | None


class AwardPeople(View):
    recorder: int | None
    confirmer: int | None
    verifier: int | None
    approver: int | None
    reviewer: int | None


class ObjectionView(View):
    id: int
    user_id: int | None
    reason: str
    outcome: str | None
    created_at: str
    decided_by: int | None


class AwardDetail(AwardView, kw_only=True):
    """An award with who handled it, its inputs and evidence, objections and appeal."""
    people: AwardPeople
    inputs: Obj | None
    evidence: Obj | None
    created_at: str
    posted_at: str | None
    note: str | None
    objections: list[ObjectionView]
    appeal: AppealView | None


class PostingView(View):
    account_id: int
    amount: int


class RuleRef(View):
    catalog: str | None
    catalog_version: int | None
    item: str | None
    item_version: int | None
    item_name: str


class EntryExplanation(View):
    """A journal entry down to its evidence: the award (or appeal) that made it, the rule, the
    inputs, caps per holder, the multiplier, who was involved. An entry the rules did not make
    has only its own fields."""
    entry_id: int
    kind: str
    unit: str
    at: str
    memo: str | None
    source: str | None
    source_ref: str | None
    actor_id: int | None
    reverses_id: int | None
    details: Obj | None
    postings: list[PostingView]
    appeal: AppealView | msgspec.UnsetType = UNSET
    award: AwardDetail | msgspec.UnsetType = UNSET
    rule: RuleRef | msgspec.UnsetType = UNSET
    inputs: Obj | None | msgspec.UnsetType = UNSET
    caps: dict[str, list[Obj]] | msgspec.UnsetType = UNSET
    multiplier: Obj | None | msgspec.UnsetType = UNSET
    evidence: Obj | None | msgspec.UnsetType = UNSET
    people: AwardPeople | msgspec.UnsetType = UNSET


class NoticeView(View):
    """An award on public notice (公示); the holder's name masked."""
    award_id: int
    status: str
    item_name: str
    item: str
    holder_type: str
    holder_name: str
    points: Points
    steps: int
    occurred_at: str
    notice_until: str | None
    open_for_objection: bool


class RecorderRow(View):
    recorder_id: int | None
    village_id: int | None
    catalog: str
    item: str
    item_name: str
    records: int
    award_steps: int
    deduct_steps: int
    minutes: int


class RecorderTotal(View):
    """A recorder's totals in a village; `outlier`: deductions far above the village's
    median."""
    recorder_id: int | None
    village_id: int | None
    records: int
    award_steps: int
    deduct_steps: int
    village_median_deduct_steps: Points
    outlier: bool


class RecorderReport(View):
    rows: list[RecorderRow]
    recorders: list[RecorderTotal]
    truncated: bool  # the rows stopped at the report's limit


class PendingAward(View):
    award_id: int
    item_name: str
    points: Points
    notice_until: str | None


class Expiring(View):
    at: str
    last_valid_day: str
    points: Points


class Standing(View):
    """A holder's balance against the catalogs' thresholds: what may be spent, sanctions and
    states in force, awards on notice, points about to expire."""
    holder_type: str
    holder_id: int
    village_id: int | None
    balance: Points
    balance_steps: int
    scale: int
    available: Points
    available_steps: int
    floor: PointsOrNone
    spendable: Points
    states: list[Obj]
    standing_history: list[Obj]
    redemption_policy: list[Obj]
    catalogs: list[str]
    point_value_fen: int
    redeem_min: PointsOrNone
    may_redeem: bool
    flag_below: PointsOrNone
    benefits_flagged: bool
    redemption_barred_until: str | None
    pending: list[PendingAward]
    expiring: list[Expiring]


class LevelChange(View):
    catalog: str
    change: str
    level: str | None
    rank: int | None
    reason: str | None
    actor_id: int | None
    at: str


class NextLevel(View):
    level: str
    name: str
    lacks: list[str]  # what the holder still lacks for it


class LevelBar(View):
    code: str
    reason: str | None
    until: str | None


class LevelFigures(View):
    hours: int
    points_earned: Points
    points_held: Points
    activities: int


class LevelScheme(View):
    """A holder's level under one catalog's `levels:` (rank 0: none yet), the next one and
    what it lacks, a standing state that bars levels, the admins' selections."""
    catalog: str
    downgrade: str  # how a level is lost (the catalog's `downgrade:`)
    level: str | None
    name: str | None
    rank: int
    of: int
    next: NextLevel | None
    barred: LevelBar | None
    selected: list[str]
    figures: LevelFigures


class Levels(View):
    """Each catalog's level scheme for the holder (what the next level needs), its history;
    the national stars (`stars`) when no catalog has levels."""
    holder_type: str
    holder_id: int
    schemes: list[LevelScheme]
    history: list[LevelChange]
    stars: int | msgspec.UnsetType = UNSET  # 0..5


class TimeBankBalance(View):
    minutes: int


class Currencies(View):
    """Coins per currency with their rates; banked hours when a catalog keeps a time bank."""
    holder_type: str
    holder_id: int
    village_id: int | None
    coins: list[Obj]
    time_bank: TimeBankBalance | None


class Conversion(View):
    catalog: str
    coin: str
    coins: Points
    points: Points
    coin_entry_id: int
    points_entry_id: int


class TimeBankExchanged(View):
    entry_id: int
    catalog: str
    receiver_id: int
    helper_id: int
    minutes: int
    receiver_minutes: int
    helper_minutes: int


class NoticesPosted(View):
    posted: int


# ---- the workflow as the pages list it (ledger/rules/desk.py); amounts in steps ------------

class WorkflowRow(View):
    """An award record as the workflow pages list it: on notice, a claim, a deduction, a step
    on the reviewer's desk."""
    award_id: int
    item_name: str
    item: str
    steps: int
    status: str
    holder_type: str
    holder_id: int
    village_id: int | None
    notice_until: datetime | None
    occurred_at: datetime | None
    created_at: datetime | None
    posted_at: datetime | None
    channel: str
    note: str | None
    evidence: Obj
    recorder_id: int | None


class DeductionRow(WorkflowRow, kw_only=True):
    """A posted (or reversed) deduction with its appeal: `appeal_until` while one may still
    appeal, `appeal` once appealed."""
    appeal: AppealView | None
    appeal_until: datetime | None


class DeskRow(WorkflowRow, kw_only=True):
    """A step waiting on the reviewer's desk, with the names staff see; an objected record
    carries its open objections' `reasons`, an appeal its id, reason and time."""
    holder_name: str
    recorder_name: str
    reasons: list[str] = []
    appeal_id: int | None = None
    reason: str | None = None
    appeal_at: datetime | None = None


class Desk(View):
    """What waits for one reviewer, by step, in the villages they serve (`count`: all of it)."""
    confirmations: list[DeskRow]
    claims: list[DeskRow]
    approvals: list[DeskRow]
    objections: list[DeskRow]
    appeals: list[DeskRow]
    count: int


class PlateWorkflow(View):
    """What a door plate adds: amounts on notice (public), and the household's deductions
    with their appeals for a signed-in member (else empty)."""
    notices: list[WorkflowRow]
    deductions: list[DeductionRow]


class VillageNotices(View):
    village_id: int
    village: str
    on_notice: int


class NoticeBoard(View):
    """A village's notice board (公示): what is on notice there now."""
    village_id: int
    village: str
    rows: list[NoticeView]


class TownAttention(View):
    """The town admin's day: notices ending within a day, notices over but not posted
    (`overdue`: the periodic job is not running), steps on the desk, village budgets below
    the flag, villages with nothing recorded nor planned this month, and counts on notice."""
    ending: list[WorkflowRow]
    overdue: int
    waiting: Desk
    low_budgets: list[Obj]
    quiet: list[tuple[int, str]]
    on_notice: dict[int, int]
    names: dict[int, str]


class ResidentWorkflow(View):
    """What /me adds: amounts on notice for the person and their household, deductions with
    their appeals, and the person's own claims."""
    notices: list[WorkflowRow]
    deductions: list[DeductionRow]
    claims: list[WorkflowRow]


class OfferedItem(View):
    """An item a form offers (rules/offers.py): what it is worth, in points at its catalog's
    scale — a fixed amount, a range the recorder picks within, or one amount per level."""
    code: str
    name: str
    points: Points
    range: tuple[Points, Points] | None
    levels: list[tuple[str, Points]]
