"""Door-plate inspections: an inspector scans a household's plate, picks an award or deduction
item, writes a note, may add a photo, and submits; the rule engine decides and books it.

The photo is re-encoded (JPEG, at most `MAX_PHOTO_SIDE_PX` a side), which drops its EXIF data
(phone photos carry the GPS position of whoever took them), and is stored under its SHA-256, the
evidence named in the award's details.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ledger.registry.models import Household, Village
from ledger.activities import awards
from ledger.registry.privacy import mask_name
from ledger.activities.models import Inspection
from ledger.activities.schemas import InspectionView, PlateSummary
from ledger.identity.actor import Actor, may
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError, Forbidden, InvalidInput, LimitExceeded, NotFound
from ledger.timeutil import utcnow
from ledger.view import typed

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000  # refuses decompression bombs before decoding
MAX_PHOTO_SIDE_PX = 1600
MAX_NOTE_CHARS = 500
HISTORY_LIMIT = 20


def photo_dir(settings: Settings) -> Path:
    return settings.data_dir / "photos"


def store_photo(settings: Settings, raw: bytes) -> str:
    """Check, re-encode and keep a photo; returns its SHA-256 (of the stored JPEG)."""
    if not raw:
        raise InvalidInput("the photo is empty", code="photo_invalid", field="photo")
    if len(raw) > MAX_PHOTO_BYTES:
        raise LimitExceeded(f"a photo is at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB",
                            code="photo_too_large", field="photo")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.width * probe.height > MAX_PHOTO_PIXELS:
                raise LimitExceeded("the photo has too many pixels", code="photo_too_large",
                                    field="photo")
            probe.verify()
        with Image.open(io.BytesIO(raw)) as img:
            img = img.convert("RGB")
            img.thumbnail((MAX_PHOTO_SIDE_PX, MAX_PHOTO_SIDE_PX))
            out = io.BytesIO()
            img.save(out, format="JPEG", quality=85)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError):
        raise InvalidInput("照片无法识别，请上传 JPEG 或 PNG 图片", code="photo_invalid",
                           field="photo") from None
    data = out.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    path = photo_dir(settings) / digest[:2] / f"{digest}.jpg"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: a reader never sees half a photo
    return digest


def household_by_plate(db: Database, plate_code: str) -> Household:
    with db.sessions() as s:
        hh = s.scalar(select(Household).where(Household.plate_code == plate_code))
    if hh is None:
        raise NotFound("没有这个门牌", code="plate_not_found")
    return hh


def _require_inspector(actor: Actor, village_id: int) -> None:
    if not may(actor, "household.inspect", village_id):
        raise Forbidden(f"no inspector role for village {village_id}", code="forbidden_village")


def plate_summary(db: Database, actor: Actor, plate_code: str) -> PlateSummary:
    """What an inspector sees after scanning a plate: the household (masked) and its record."""
    hh = household_by_plate(db, plate_code)
    _require_inspector(actor, hh.village_id)
    with db.sessions() as s:
        village = s.get(Village, hh.village_id)
        recent = list(s.scalars(select(Inspection).where(Inspection.household_id == hh.id)
                                .order_by(Inspection.id.desc()).limit(HISTORY_LIMIT)))
    return typed({"household_id": hh.id, "plate_code": hh.plate_code,
                  "village_id": hh.village_id, "village": village.name,
                  "head": mask_name(hh.head_name), "address": hh.address,
                  "recent": [inspection_view(i) for i in recent]}, PlateSummary)


@dataclass(frozen=True)
class Finding:
    plate_code: str
    item_code: str
    note: str
    points: float | None = None  # the chosen value of a range item
    level: str | None = None
    photo: bytes | None = None


def record(db: Database, settings: Settings, actor: Actor, f: Finding, *, key: str,
           now: datetime | None = None) -> InspectionView:
    """Submit a finding. The award is keyed by the client's key, so a retried submit returns the
    first inspection; the engine's refusal stores nothing."""
    now = now or utcnow()
    note = (f.note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"note at most {MAX_NOTE_CHARS} characters", code="note_too_long",
                           field="note")
    hh = household_by_plate(db, f.plate_code)
    _require_inspector(actor, hh.village_id)
    photo = store_photo(settings, f.photo) if f.photo else None
    ins_id, done = _claim_row(db, actor, hh, f, note, photo, key, now)
    if done is not None:
        return typed({**done, "repeated": True}, InspectionView)
    context = {"inspection_id": ins_id, "village_id": hh.village_id,
               "plate_code": hh.plate_code, "note": note,
               "photos": [f"sha256:{photo}"] if photo else [], "occurred_at": now.isoformat(),
               "points": f.points, "level": f.level}
    try:
        result = awards.record_inspection(db, settings, item_code=f.item_code,
                                          household_id=hh.id, actor=actor, context=context,
                                          key=f"inspection:{ins_id}:points", now=now)
    except DomainError:
        with db.transaction() as s:  # refused: the finding is not kept
            s.execute(delete(Inspection).where(Inspection.id == ins_id))
        raise
    with db.transaction() as s:
        ins = s.get(Inspection, ins_id)
        ins.award = result
        s.flush()
        return typed(inspection_view(ins), InspectionView)


def _claim_row(db: Database, actor: Actor, hh: Household, f: Finding, note: str,
               photo: str | None, key: str, now: datetime) -> tuple[int, dict | None]:
    """The inspection row for this submit: new, or the earlier one (finished or not)."""
    for _ in range(2):
        try:
            with db.transaction() as s:
                row = s.scalar(select(Inspection).where(Inspection.request_key == key))
                if row is not None:
                    return row.id, (inspection_view(row) if row.award is not None else None)
                row = Inspection(household_id=hh.id, village_id=hh.village_id,
                                 inspector_user_id=actor.user_id, item_code=f.item_code,
                                 note=note, photo_sha256=photo, request_key=key, award=None,
                                 created_at=now)
                s.add(row)
                s.flush()
                return row.id, None
        except IntegrityError:
            continue  # the same submit raced itself; read its row
    raise RuntimeError("inspection row neither inserted nor found")


def inspection_view(i: Inspection) -> dict:
    return {"inspection_id": i.id, "household_id": i.household_id, "village_id": i.village_id,
            "inspector_user_id": i.inspector_user_id, "item_code": i.item_code, "note": i.note,
            "photo_sha256": i.photo_sha256, "award": i.award,
            "created_at": i.created_at.isoformat()}


__all__ = ["Finding", "record", "plate_summary", "store_photo", "DomainError"]
