"""Door-plate inspections go through the rule engine: deductions may take a household below
zero, evidence rules hold, a retried submit records once, photos lose their EXIF."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from ledger.activities import inspections
from ledger.activities.inspections import Finding
from ledger.activities.models import Inspection
from ledger.activities.planning import Actor
from ledger.errors import DomainError, Forbidden
from ledger.journal.models import JournalEntry
from tests.conftest import audit_clean
from tests.builders.activities import T0, make_world, points_of


def _inspector(w) -> Actor:
    return Actor(900, roles=(("inspector", w.village_id),))


def _jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (24.0, 44.0, 0.0)}  # GPSInfo: where the phone was
    exif[0x010F] = "PhoneMaker"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def test_deductions_take_a_household_below_zero(db, settings):
    w = make_world(db)
    who = _inspector(w)
    first = inspections.record(db, settings, who, Finding(w.plate_code, "C06", "门口堆放杂物"),
                               key="i1", now=T0)
    assert first.award["status"] == "posted" and first.award["points"] == -2
    inspections.record(db, settings, who, Finding(w.plate_code, "C10", "污水直排路面",
                                                  photo=_jpeg_with_gps()),
                       key="i2", now=T0 + timedelta(minutes=5))
    assert points_of(db, "household", w.household_id) == -7
    with db.sessions() as s:
        e = s.get(JournalEntry, first.award["entry_id"])
        assert e.kind == "deduct" and e.details["inputs"]["refs"]["inspection_id"] == \
            first.inspection_id
        assert e.details["inputs"]["refs"]["plate_code"] == w.plate_code
    audit_clean(db)


def test_a_retried_submit_records_once(db, settings):
    w = make_world(db)
    who = _inspector(w)
    a = inspections.record(db, settings, who, Finding(w.plate_code, "C01", "庭院整洁"),
                           key="same", now=T0)
    b = inspections.record(db, settings, who, Finding(w.plate_code, "C01", "庭院整洁"),
                           key="same", now=T0)
    assert b.repeated and b.inspection_id == a.inspection_id
    assert points_of(db, "household", w.household_id) == 5


def test_refused_finding_is_not_kept(db, settings):
    w = make_world(db)
    with pytest.raises(DomainError) as e:  # C10 asks for a photo
        inspections.record(db, settings, _inspector(w), Finding(w.plate_code, "C10", "污水"),
                           key="k", now=T0)
    assert e.value.code == "evidence_required"
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0


def test_only_inspectors_of_the_village_record(db, settings):
    w = make_world(db)
    other = Actor(901, roles=(("inspector", w.other_village_id),))
    with pytest.raises(Forbidden):
        inspections.record(db, settings, other, Finding(w.plate_code, "C06", "x"), key="k",
                           now=T0)
    with pytest.raises(DomainError) as e:
        inspections.plate_summary(db, _inspector(w), "no-such-plate")
    assert e.value.code == "plate_not_found"
    summary = inspections.plate_summary(db, _inspector(w), w.plate_code)
    assert summary.head == "陈*明" and summary.household_id == w.household_id


def test_photos_are_reencoded_without_exif_and_kept_by_hash(db, settings):
    w = make_world(db)
    digest = inspections.store_photo(settings, _jpeg_with_gps())
    path = settings.data_dir / "photos" / digest[:2] / f"{digest}.jpg"
    with Image.open(path) as img:
        assert not img.getexif()
    with pytest.raises(DomainError) as e:
        inspections.store_photo(settings, b"not an image")
    assert e.value.code == "photo_invalid"
    with pytest.raises(DomainError) as e:
        inspections.store_photo(settings, b"\xff" * (inspections.MAX_PHOTO_BYTES + 1))
    assert e.value.code == "photo_too_large"
    assert w.household_id
