"""Finding the person or household a row of an import names, within its village: by ID
number, volunteer phone or name (a person), by plate code or head's name (a household); a
name that is not unique in the village is an error asking for the ID number or plate code."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.registry.models import Household, Person
from ledger.registry.privacy import normalize_phone
from ledger.sheets.tabular import RowError


class Holders:
    """Finds the holder a row names, within its village, loading each village once."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.loaded: set[int] = set()
        self.by_id: dict[str, tuple[int, int, int | None]] = {}
        # Matches as tuples, not lists: plain values, which the collector stops tracking.
        self.by_phone: dict[tuple[int, str], tuple[tuple[int, int | None], ...]] = {}
        self.by_name: dict[tuple[int, str], tuple[tuple[int, int | None], ...]] = {}
        self.homes_by_plate: dict[str, tuple[int, int]] = {}
        self.homes_by_head: dict[tuple[int, str], tuple[int, ...]] = {}

    def load(self, village_id: int) -> None:
        if village_id in self.loaded:
            return
        self.loaded.add(village_id)
        by_phone: dict[tuple[int, str], list[tuple[int, int | None]]] = {}
        by_name: dict[tuple[int, str], list[tuple[int, int | None]]] = {}
        homes_by_head: dict[tuple[int, str], list[int]] = {}
        for pid, name, phone, idn, hid in self.s.execute(
                select(Person.id, Person.name, Person.phone, Person.id_number,
                       Person.household_id).where(Person.village_id == village_id)):
            if idn:
                self.by_id[idn] = (village_id, pid, hid)
            if phone:
                by_phone.setdefault((village_id, phone), []).append((pid, hid))
            by_name.setdefault((village_id, name), []).append((pid, hid))
        for hid, plate, head in self.s.execute(
                select(Household.id, Household.plate_code, Household.head_name)
                .where(Household.village_id == village_id)):
            self.homes_by_plate[plate] = (village_id, hid)
            homes_by_head.setdefault((village_id, head), []).append(hid)
        for mine, found in ((self.by_phone, by_phone), (self.by_name, by_name),
                            (self.homes_by_head, homes_by_head)):
            mine.update(zip(found, map(tuple, found.values())))


def find_holder(h: Holders, village_id: int, htype: str, cell, line: int,
            errs: list[RowError]) -> tuple[int, int | None] | None:
    """(holder id, the holder's household id) or None with an error; `cell(key)` reads the
    row's name, id_number, plate_code and phone."""
    return find_named(h, village_id, htype, cell("name"), cell("id_number"), cell("plate_code"),
                      cell("phone"), line, errs)


def find_named(h: Holders, village_id: int, htype: str, name: str, id_number: str, plate: str,
               phone_text: str, line: int, errs: list[RowError]
               ) -> tuple[int, int | None] | None:
    """`find_holder` given the row's cells themselves (an import of thousands of rows reads
    them once, not through a function per cell)."""
    if village_id not in h.loaded:
        h.load(village_id)
    idn = id_number.upper()
    try:
        phone = normalize_phone(phone_text) or ""
    except ValueError:
        errs.append(RowError(line, "phone_invalid", f"手机号“{phone_text}”不对", "phone"))
        return None
    if htype == "household":
        if plate:
            found = h.homes_by_plate.get(plate)
            if found is None or found[0] != village_id:
                errs.append(RowError(line, "household_unknown", f"本村没有门牌码为“{plate}”的户",
                                     "plate_code"))
                return None
            return found[1], found[1]
        homes = h.homes_by_head.get((village_id, name), ()) if name else ()
        if len(homes) != 1:
            errs.append(RowError(line, "household_unknown" if not homes else "household_ambiguous",
                                 f"本村没有户主为“{name}”的户" if not homes else
                                 f"本村有{len(homes)}户户主叫“{name}”，请填写门牌码",
                                 "name" if name else "plate_code"))
            return None
        return homes[0], homes[0]
    if idn:
        found = h.by_id.get(idn)
        if found is None or found[0] != village_id:
            errs.append(RowError(line, "person_unknown", "本村没有这个身份证号的人", "id_number"))
            return None
        return found[1], found[2]
    if not name and not phone:
        errs.append(RowError(line, "person_required", "请填写身份证号、手机号或姓名", "name"))
        return None
    people = (h.by_phone.get((village_id, phone), ()) if phone
              else h.by_name.get((village_id, name), ()))
    if len(people) != 1:
        what = f"手机号“{phone}”" if phone else f"姓名“{name}”"
        errs.append(RowError(line, "person_unknown" if not people else "person_ambiguous",
                             f"本村没有{what}的人" if not people else
                             f"本村有{len(people)}人{what}，请填写身份证号",
                             "phone" if phone else "name"))
        return None
    return people[0]
