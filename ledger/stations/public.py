"""A station's public page: the station with its town's menu of services (四单). Apart from
`stations.service` because the menu's module (matching) itself builds on the stations."""

from __future__ import annotations

from ledger.db import Database
from ledger.matching.menu import menu
from ledger.stations.schemas import StationPage
from ledger.stations.service import station, station_page
from ledger.view import typed


def public_page(db: Database, village_id: int) -> StationPage:
    """`station_page` with the town's menu of services (四单)."""
    with db.sessions() as s:
        page = station_page(s, village_id)
        town_id = station(s, village_id).town_id
    page["menu"] = menu(db, town_id)
    return typed(page, StationPage)
