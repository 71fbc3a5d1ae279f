"""Recognition's answers as types (stars, thresholds, honor lists, rankings, background tasks),
so the API's schema documents each body and a view that drifts from its type fails at the
boundary (`msgspec.convert`), not in a client. A field that a view carries only sometimes is
`UNSET` when absent (left out of the JSON, as the view leaves it out); a field always carried
is there, null or not."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from ledger.rules.schemas import OfferedItem, PlateWorkflow
from ledger.view import View

# Points as people read them (ledger.units.points_of): an integer, or a number for half points
# (3.5 at scale 2). Typed `Any`: `int | float` would be documented as oneOf integer/number,
# which an integer matches twice (the fuzzer rightly refuses it); the value passes unchanged.
Points = Annotated[Any, msgspec.Meta(
    description="points as people read them: an integer, or a number with .5 for half points")]


class StarConfigView(View):
    """A town's star thresholds of one kind; a household's also name the period and vetoes."""
    kind: str
    version: int
    thresholds: list[int]
    period: str | UnsetType = UNSET
    veto: dict[str, int] | UnsetType = UNSET


class StarCurrent(View):
    """The live figure of the current period: a volunteer's in minutes (and `hours_x10`), a
    household's score in steps (and `points`), a team's collective services (`meets_plan`)."""
    period: str
    value: int
    level: int
    capped_by: str | None
    next_threshold: int | None
    hours_x10: int | UnsetType = UNSET
    points: Points | UnsetType = UNSET
    next_threshold_points: Points | UnsetType = UNSET  # null past the last threshold
    meets_plan: bool | UnsetType = UNSET


class StarChangeView(View):
    at: str
    period: str
    from_: int = msgspec.field(name="from")
    to: int
    value: int
    cause: str
    ref: str | None
    config_version: int | None


class StarSummary(View):
    holder_type: str
    holder_id: int
    kind: str
    stars: int
    config: StarConfigView
    current: StarCurrent
    history: list[StarChangeView]


class TaskView(View):
    """A background task (an outbox row): queued, retrying, done or dead."""
    task_id: int
    task: str
    state: str
    attempts: int
    error: str | None
    result: Any


class DefinitionView(View):
    id: int
    town_id: int
    name: str
    scope: str
    scope_id: int
    period: str
    metric: str
    size: int
    minimum: int
    tie_break: str
    mask_names: bool
    active: bool


class ObjectionView(View):
    id: int
    holder_id: int | None
    reason: str
    created_at: str
    outcome: str | None
    decided_by: int | None
    decision_note: str


class HonorListView(View):
    """A list: everyone sees a published one (content, hash, checkpoint); its admins also see
    a draft's entries and the exclusions, notice and objections."""
    id: int
    definition: DefinitionView
    period: str
    version: int
    status: str
    content: dict[str, Any] | UnsetType = UNSET
    content_sha256: str | UnsetType = UNSET
    checkpoint_root: str | None | UnsetType = UNSET
    verified: bool | UnsetType = UNSET
    published_at: str | UnsetType = UNSET
    entries: list[dict[str, Any]] | UnsetType = UNSET
    note: str | None | UnsetType = UNSET
    unit: str | UnsetType = UNSET
    candidates: int | UnsetType = UNSET
    computed_at: str | None | UnsetType = UNSET
    exclusions: list[dict[str, Any]] | UnsetType = UNSET
    notice_until: str | None | UnsetType = UNSET
    objections: list[ObjectionView] | UnsetType = UNSET


class PublishedListView(View):
    id: int
    title: str
    scope: str
    scope_id: int
    period: str
    version: int
    published_at: str
    content_sha256: str


class RankingEntry(View):
    """One place on a live board; the name masked. `value` in the unit's steps (minutes, or
    ledger steps), with `hours_x10` or `points` as people read it."""
    rank: int
    holder_id: int
    value: int
    name: str
    hours_x10: int | UnsetType = UNSET
    points: Points | UnsetType = UNSET


class RankingView(View):
    scope: str
    scope_id: int
    metric: str
    period: str
    entries: list[RankingEntry]



class PlateHousehold(View):
    """The registry fields a door plate shows or needs: the household, its village and town,
    its head's name (shown masked)."""
    household_id: int
    village_id: int
    village: str
    town_id: int
    head_name: str


class PlateFacts(View):
    """What a door plate's version statement read besides the version
    (freshness.plate_version), so that its first visit builds from the same snapshot instead
    of reading them again: the household, how many of its awards are on public notice, and the
    id of its town's household star configuration in force (None: the defaults)."""
    household: PlateHousehold
    on_notice: int
    star_config_id: int | None


class PageVersion(View):
    """What a public page shows, as a token that moves whenever it could have changed
    (ledger/recognition/freshness.py): `key` names the page, `version` the state it shows,
    `catalog_stamp` the rule catalogs' stamp that state was read at (rules/store.prime);
    `plate` what a door plate's version read of its household (None for other pages)."""
    key: str
    version: str
    catalog_stamp: int | None = None
    plate: PlateFacts | None = None


class NoticeEntry(View):
    """A candidate as the public sees a list on notice: the name masked when the definition
    says so; `value` in the list's `value_unit`."""
    rank: int
    holder_id: int
    value: int | float
    name: str
    village: str


class NoticeListView(View):
    """A list on public notice (公示), before publication: ranks, names as they will be
    published, values (`value_unit`: points metrics in ledger steps, hours in minutes), and
    when the notice ends."""
    id: int
    title: str
    metric: str
    period: str
    value_unit: str
    period_start: str
    period_end: str
    status: str
    notice_until: str | None
    note: str | None
    entries: list[NoticeEntry]


class NoticeSummary(View):
    """A list on public notice now, in the public list of lists."""
    id: int
    title: str
    period: str
    notice_until: str
# ---- the civility score in public (ledger/recognition/public.py); amounts in steps ----------

class PlateEntry(View):
    """One counted amount on the door plate: its item's name (else the entry's memo; None:
    the page names its kind), date and amount — never notes, photos or people."""
    title: str | None
    kind: str
    at: datetime
    amount: int


class PlateItem(View):
    """The year's amounts of one item (or kind), summed."""
    title: str | None
    kind: str
    times: int
    amount: int


class PlateStars(View):
    """The household's stars held, and the current period's veto item if one caps them."""
    stars: int
    capped_by: str | None


class PublicHouse(View):
    """What a door plate shows anyone: village, masked name, the year's civility score, its
    latest entries and their sums by item, the stars."""
    household_id: int
    village_id: int
    village: str
    name: str
    score: int
    year: int
    entries: list[PlateEntry]
    by_item: list[PlateItem]
    stars: PlateStars


class RankedVillage(View):
    village_id: int
    village: str
    households: int
    total: int  # the households' scores summed, in steps
    average_points: Points
    average_text: str


class VillageRanking(View):
    """One town's villages by the year's average household civility score."""
    town_id: int
    villages: list[RankedVillage]
    since: datetime
    year: int
    scale: int


class RankPage(View):
    """The ranking page: the towns to choose from (id, name), the one shown, its ranking."""
    towns: list[tuple[int, str]]
    town_id: int
    town_name: str
    ranking: VillageRanking


class DoorPlate(View):
    """The door-plate page: the public block; for an inspector of its village (`inspector`)
    the items they may record here and the whole standing, else the states the public block
    shows; the household's workflow (rules/desk.plate); the points scale in force."""
    house: PublicHouse
    inspector: bool
    offered: list[OfferedItem]
    workflow: PlateWorkflow
    standing: dict[str, Any]
    scale: int


class VolunteerStars(View):
    """A volunteer's stars held, and (below the top) the next level and the certified hours
    still needed for it, rounded up."""
    stars: int
    next_stars: int | None
    hours_to_next: int | None
