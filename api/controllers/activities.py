"""Activities and check-ins over HTTP: organizers create, open and close activities and show
the rotating check-in code; volunteers sign up and scan; organizers confirm, reject and add;
inspectors record findings at door plates; volunteers get service-record certificates, which
anyone can verify. The H5 page at /c/{token} lives in api/pages/checkin.py; its JSON twin is
/api/v1/c/{token} here.

(Over 400 lines: one controller per package, as for every other package; each handler is a
few lines over one domain function.)"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
import qrcode
import qrcode.image.svg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Template

from api.auth import INSPECTOR, ORGANIZER, TOWN_ADMIN, VILLAGE_ADMIN, Principal, requires_role
from api.controllers import paged as pg
from api.deps import provide_limiter, scoped_key
from api.observability import arrived_at
from ledger.activities import (certificates, export, inspections, minutes, planning, review,
                               signups, tokens)
from ledger.activities import service as checkin
from ledger.activities.codes import CheckinCode, current_code
from ledger.activities.models import ForgottenPolicy
from ledger.activities.planning import ActivityDraft
from ledger.activities.schemas import (ActivityView, AttendanceResult, Attendances,
                                       CertificateCheck, CertificateView, ImportResult,
                                       InspectionView, PlateSummary, ServiceMinutes, Signups,
                                       SignupView)
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import Forbidden, NotFound
from ledger.ratelimit import Limit, RateLimiter

Text = Annotated[str, msgspec.Meta(max_length=500)]
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
MAX_PHOTO_REQUEST_BYTES = 9 * 1024 * 1024
VERIFY_PER_ADDRESS = Limit("cert_verify", max_hits=60, window_s=60)
NO_STORE = {"Cache-Control": "no-store"}


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


class Geofence(msgspec.Struct, forbid_unknown_fields=True):
    lat: float
    lon: float
    radius_m: int


class ActivityIn(msgspec.Struct, forbid_unknown_fields=True):
    village_id: int
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    rule_item_code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    starts_at: datetime
    ends_at: datetime
    place: Annotated[str, msgspec.Meta(max_length=200)] = ""
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    team_id: int | None = None
    geofence: Geofence | None = None
    capacity: int | None = None
    theme: str | None = None
    walk_ins_allowed: bool = True
    needs_confirmation: bool = False
    forgotten_policy: ForgottenPolicy = ForgottenPolicy.CREDIT_NOTHING
    rotate_s: int = tokens.DEFAULT_ROTATE_S
    rounding_step_min: int = 1
    max_minutes: int | None = None

    def draft(self) -> ActivityDraft:
        g = self.geofence
        fields = {f: getattr(self, f) for f in self.__struct_fields__ if f != "geofence"}
        return ActivityDraft(**fields, geo_lat=g.lat if g else None,
                             geo_lon=g.lon if g else None, geo_radius_m=g.radius_m if g else None)


class ScanIn(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["in", "out"] | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: Annotated[float, msgspec.Meta(ge=0)] | None = None


class TokenScanIn(ScanIn, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=tokens.MAX_TOKEN_CHARS)] = ""


class Rejection(msgspec.Struct, forbid_unknown_fields=True):
    reason: Note


class RecordIn(msgspec.Struct, forbid_unknown_fields=True):
    person_id: int
    check_in_at: datetime
    check_out_at: datetime
    note: Note


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    check_in_at: datetime
    check_out_at: datetime
    note: Note


class CheckOutIn(msgspec.Struct, forbid_unknown_fields=True):
    check_out_at: datetime
    note: Note


class ImportIn(msgspec.Struct, forbid_unknown_fields=True):
    batch_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    rows: Annotated[list[RecordIn], msgspec.Meta(min_length=1, max_length=review.MAX_IMPORT_ROWS)]


class CertificateIn(msgspec.Struct, forbid_unknown_fields=True):
    start: date
    end: date


class FindingForm(msgspec.Struct):
    item_code: str
    note: str = ""
    points: float | None = None
    level: str | None = None
    photo: UploadFile | None = None


def _scan(request: Request, db: Database, settings: Settings, p: Principal,
          limiter: RateLimiter, token: str, data: ScanIn | None,
          activity_id: int | None = None) -> AttendanceResult:
    if request.headers.get("authorization") is None and \
            not request.headers.get("content-type", "").startswith("application/json"):
        # Signed in by cookie: only a same-site script can send JSON (no CSRF by form post).
        raise Forbidden("send the scan as application/json", code="json_required")
    d = data or ScanIn()
    return checkin.scan(db, settings, checkin.Scan(
        token=token, person_id=p.person_id, user_id=p.user_id, ip=_ip(request),
        action=d.action, lat=d.lat, lon=d.lon, accuracy_m=d.accuracy_m,
        activity_id=activity_id, arrived_at=arrived_at(request)), limiter=limiter)


def _qr_bytes(url: str, fmt: str) -> tuple[bytes, str]:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=12, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    buf = io.BytesIO()
    if fmt == "svg":
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buf)
        return buf.getvalue(), "image/svg+xml"
    qr.make_image().save(buf)
    return buf.getvalue(), "image/png"


def _code_image(db: Database, settings: Settings, p: Principal, activity_id: int, kind: str,
                fmt: str) -> Response:
    c = current_code(db, settings, p, activity_id, kind)
    body, media = _qr_bytes(c.url, fmt)
    headers = {**NO_STORE, "X-Checkin-URL": c.url}
    if kind == "rotating":
        headers["X-Refresh-In"] = str(c.refresh_in_s)
    return Response(body, media_type=media, headers=headers)


class ActivitiesController(Controller):
    path = "/api/v1"
    tags = ["activities"]
    dependencies = {"limiter": Provide(provide_limiter)}

    # ---- organizers --------------------------------------------------------------------------
    @post("/activities", guards=[requires_role(ORGANIZER, VILLAGE_ADMIN, TOWN_ADMIN)],
          status_code=201, sync_to_thread=True, summary="Create a draft activity")
    def create(self, request: Request, data: ActivityIn, db: Database,
               principal: Principal) -> ActivityView:
        return planning.create_activity(db, principal, data.draft(),
                                        key=scoped_key(request, principal))

    @get("/activities/{activity_id:int}", sync_to_thread=True)
    def show(self, activity_id: int, db: Database, principal: Principal) -> ActivityView:
        return signups.activity_for(db, activity_id, principal.person_id)

    @post("/activities/{activity_id:int}/open", status_code=200, sync_to_thread=True)
    def open(self, activity_id: int, db: Database, principal: Principal) -> ActivityView:
        return planning.set_status(db, principal, activity_id, "open")

    @post("/activities/{activity_id:int}/close", status_code=200, sync_to_thread=True)
    def close(self, activity_id: int, db: Database, principal: Principal) -> ActivityView:
        return planning.set_status(db, principal, activity_id, "closed")

    @post("/activities/{activity_id:int}/static-code", status_code=200, sync_to_thread=True,
          summary="Reissue the printed code; earlier prints stop working")
    def reissue(self, activity_id: int, db: Database, principal: Principal) -> ActivityView:
        return planning.reissue_static_code(db, principal, activity_id)

    @get("/activities/{activity_id:int}/checkin-code", sync_to_thread=True,
         response_headers={"Cache-Control": "no-store"},
         summary="The check-in code to show now (rotating) or to print (kind=static)")
    def code(self, activity_id: int, db: Database, settings: Settings, principal: Principal,
             kind: Literal["rotating", "static"] = "rotating") -> CheckinCode:
        return current_code(db, settings, principal, activity_id, kind)

    @get("/activities/{activity_id:int}/checkin-code.png", sync_to_thread=True,
         media_type="image/png",
         summary="The check-in code as a QR image (PNG)")
    def code_png(self, activity_id: int, db: Database, settings: Settings,
                 principal: Principal, kind: Literal["rotating", "static"] = "rotating"
                 ) -> Response:
        return _code_image(db, settings, principal, activity_id, kind, "png")

    @get("/activities/{activity_id:int}/checkin-code.svg", sync_to_thread=True,
         media_type="image/svg+xml",
         summary="The check-in code as a QR image (SVG, for printing)")
    def code_svg(self, activity_id: int, db: Database, settings: Settings,
                 principal: Principal, kind: Literal["rotating", "static"] = "rotating"
                 ) -> Response:
        return _code_image(db, settings, principal, activity_id, kind, "svg")

    @get("/activities/{activity_id:int}/signups", sync_to_thread=True)
    def signup_list(self, activity_id: int, db: Database, principal: Principal,
                    cursor: pg.Cursor = None, limit: pg.Limit = pg.DEFAULT_PAGE) -> Signups:
        listing = signups.list_signups(db, principal, activity_id)
        page = pg.page_of(listing.items, cursor, limit, lambda r: r.person_id)
        return Signups(items=page.items, next_cursor=page.next_cursor, activity_id=activity_id,
                       capacity=listing.capacity, seats_taken=listing.seats_taken)

    @get("/activities/{activity_id:int}/attendances", sync_to_thread=True)
    def attendances(self, activity_id: int, db: Database, principal: Principal,
                    state_filter: Annotated[str | None, Parameter(query="state")] = None,
                    review_state: Annotated[
                        str | None, Parameter(query="review")] = None,
                    cursor: pg.Cursor = None, after_id: pg.OldAfterId = None,
                    limit: pg.Limit = pg.DEFAULT_PAGE) -> Attendances:
        return review.list_attendances(
            db, principal, activity_id, state=state_filter, review=review_state,
            after_id=pg.either(cursor, after_id) or 0, limit=limit)

    @post("/activities/{activity_id:int}/attendances", status_code=201, sync_to_thread=True,
          summary="Add a forgotten attendance, with a note")
    def add(self, request: Request, activity_id: int, data: RecordIn, db: Database,
            settings: Settings, principal: Principal) -> AttendanceResult:
        return review.add_attendance(db, settings, principal, review.Record(
            activity_id, data.person_id, data.check_in_at, data.check_out_at, data.note),
            key=scoped_key(request, principal))

    @post("/activities/{activity_id:int}/imports", status_code=201, sync_to_thread=True,
          guards=[requires_role(VILLAGE_ADMIN, TOWN_ADMIN)],
          summary="Import service records kept elsewhere (paper sheets, an older system)")
    def import_rows(self, activity_id: int, data: ImportIn, db: Database, settings: Settings,
                    principal: Principal) -> ImportResult:
        rows = [review.Record(activity_id, r.person_id, r.check_in_at, r.check_out_at, r.note)
                for r in data.rows]
        return review.import_records(db, settings, principal, rows,
                                     batch_ref=f"{activity_id}:{data.batch_ref}")

    @post("/activities/attendances/{attendance_id:int}/confirm", status_code=200,
          sync_to_thread=True)
    def confirm(self, attendance_id: int, db: Database, settings: Settings,
                principal: Principal) -> AttendanceResult:
        return review.confirm(db, settings, principal, attendance_id)

    @post("/activities/attendances/{attendance_id:int}/reject", status_code=200,
          sync_to_thread=True)
    def reject(self, attendance_id: int, data: Rejection, db: Database, settings: Settings,
               principal: Principal) -> AttendanceResult:
        return review.reject(db, settings, principal, attendance_id, data.reason)

    @post("/activities/attendances/{attendance_id:int}/check-out", status_code=200,
          sync_to_thread=True,
          summary="Set the check-out time of someone who forgot to scan out")
    def resolve(self, attendance_id: int, data: CheckOutIn, db: Database, settings: Settings,
                principal: Principal) -> AttendanceResult:
        return review.resolve_forgotten(db, settings, principal, attendance_id,
                                        data.check_out_at, data.note)

    # ---- volunteers --------------------------------------------------------------------------
    @post("/activities/{activity_id:int}/signup", status_code=200, sync_to_thread=True)
    def sign_up(self, activity_id: int, db: Database, principal: Principal) -> SignupView:
        return signups.sign_up(db, activity_id=activity_id, person_id=_person(principal))

    @post("/activities/{activity_id:int}/withdraw", status_code=200, sync_to_thread=True)
    def withdraw(self, activity_id: int, db: Database, principal: Principal) -> SignupView:
        return signups.withdraw(db, activity_id=activity_id, person_id=_person(principal))

    @post("/c/{token:str}", status_code=200, sync_to_thread=True,
          summary="Scan a check-in code: check in, or out (the JSON twin of the /c/ page)")
    def scan_token(self, request: Request, token: str, db: Database, settings: Settings,
                   principal: Principal, limiter: RateLimiter,
                   data: ScanIn | None = None) -> AttendanceResult:
        return _scan(request, db, settings, principal, limiter, token, data)

    @post("/activities/{activity_id:int}/scan", status_code=200, sync_to_thread=True,
          summary="Scan from an activity's own page: a code of another activity is refused")
    def scan_here(self, request: Request, activity_id: int, data: TokenScanIn, db: Database,
                  settings: Settings, principal: Principal, limiter: RateLimiter
                  ) -> AttendanceResult:
        return _scan(request, db, settings, principal, limiter, data.token, data, activity_id)

    @post("/activities/{activity_id:int}/claims", status_code=201, sync_to_thread=True,
          summary="Claim a missed scan (pending until the organizer confirms)")
    def claim(self, request: Request, activity_id: int, data: ClaimIn, db: Database,
              settings: Settings, principal: Principal) -> AttendanceResult:
        return review.self_report(db, settings, principal, review.Record(
            activity_id, _person(principal), data.check_in_at, data.check_out_at, data.note),
            key=scoped_key(request, principal))

    @get("/me/service", sync_to_thread=True, summary="My certified and pending service minutes")
    def my_service(self, db: Database, principal: Principal) -> ServiceMinutes:
        return minutes.service_of(db, _person(principal))

    # ---- certificates and exports --------------------------------------------------------------
    @post("/people/{person_id:int}/certificates", status_code=201, sync_to_thread=True,
          summary="Issue a 志愿服务记录证明 (the volunteer, or an admin of their village)")
    def issue(self, request: Request, person_id: int, data: CertificateIn, db: Database,
              settings: Settings, principal: Principal) -> CertificateView:
        return certificates.issue(db, settings, principal, person_id=person_id,
                                  start=data.start, end=data.end,
                                  key=scoped_key(request, principal))

    @get("/activities/certificates/{code:str}/certificate.pdf", sync_to_thread=True,
         media_type="application/pdf")
    def certificate_pdf(self, code: str, db: Database, settings: Settings,
                        principal: Principal) -> Response:
        rec = certificates.load(db, settings, principal, code)
        return Response(certificates.render_pdf(rec), media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="service-record-{code}.pdf"'})

    @get("/activities/certificates/{code:str}/verification", sync_to_thread=True,
         summary="Public check of a certificate: masked name, hours, issuer")
    def verification(self, request: Request, code: str, db: Database,
                     limiter: RateLimiter) -> CertificateCheck:
        limiter.check(VERIFY_PER_ADDRESS, _ip(request))
        return certificates.verify(db, code)

    @get("/service-records.csv", sync_to_thread=True, media_type="text/csv; charset=utf-8",
         guards=[requires_role(VILLAGE_ADMIN, TOWN_ADMIN)],
         summary="Certified service records for upload to the national volunteer system")
    def records_csv(self, db: Database, principal: Principal, start: date, end: date,
                    village_id: int | None = None) -> Response:
        body = export.export_csv(db, principal, village_id=village_id, start=start,
                                 end=end)
        name = f"service-records-{village_id or 'town'}-{start}-{end}.csv"
        return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # ---- inspections -----------------------------------------------------------------------
    @get("/activities/plates/{plate_code:str}/inspection", sync_to_thread=True,
         guards=[requires_role(INSPECTOR, VILLAGE_ADMIN, TOWN_ADMIN)])
    def plate(self, plate_code: str, db: Database, principal: Principal) -> PlateSummary:
        return inspections.plate_summary(db, principal, plate_code)

    @post("/activities/plates/{plate_code:str}/inspections", status_code=201, sync_to_thread=True,
          guards=[requires_role(INSPECTOR, VILLAGE_ADMIN, TOWN_ADMIN)],
          request_max_body_size=MAX_PHOTO_REQUEST_BYTES,
          summary="Record a finding at a door plate (multipart: item_code, note, photo)")
    def inspect(self, request: Request, plate_code: str, db: Database, settings: Settings,
                principal: Principal, data: Annotated[FindingForm, Body(
                    media_type=RequestEncodingType.MULTI_PART)]) -> InspectionView:
        photo = data.photo.file.read() if data.photo is not None else None
        return inspections.record(db, settings, principal, inspections.Finding(
            plate_code, data.item_code, data.note, data.points, data.level, photo),
            key=scoped_key(request, principal))


@get("/cert/{code:str}", include_in_schema=False, sync_to_thread=True,
     dependencies={"limiter": Provide(provide_limiter)})
def certificate_page(request: Request, code: str, db: Database, limiter: RateLimiter
                     ) -> Template:
    """The public page a certificate's QR code opens (no sign-in)."""
    from api.pages.common import render
    limiter.check(VERIFY_PER_ADDRESS, _ip(request))
    try:
        return render(request, "cert_verify.html", rec=certificates.verify(db, code), code=code)
    except NotFound:
        return render(request, "cert_verify.html", status=404, rec=None, code=code[:40])


def _person(p: Principal) -> int:
    if p.person_id is None:
        raise Forbidden("请先以志愿者身份登录", code="volunteer_required")
    return p.person_id


handlers = [ActivitiesController, certificate_page]
