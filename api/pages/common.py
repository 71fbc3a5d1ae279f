"""What every page handler shares: the language, rendering a template, form errors, sign-in
redirects, page idempotency keys, and HTML error pages instead of problem details."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from litestar import Request
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.params import Body
from litestar.response import Redirect, Template

from api.auth import Principal, principal_of, requires_role
from api.i18n import DEFAULT_LANG, LANGS, translator
from api.pages.filters import chinese_part
from ledger.errors import DomainError, Forbidden
from ledger.identity.actor import ANYWHERE, may

log = structlog.get_logger("jifen.pages")
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
FORM_KEY_FIELD = "form_key"
_FORM_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_NEXT_CHARS = 300
# A posted form, as field → value (the last value when a field repeats).
FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    cookie = request.cookies.get(LANG_COOKIE)
    return cookie if cookie in LANGS else DEFAULT_LANG


def t_for(request: Request):
    return translator(lang_of(request))


def _lang_cookie(request: Request) -> list[Cookie]:
    asked = request.query_params.get("lang")
    if asked in LANGS and request.cookies.get(LANG_COOKIE) != asked:
        return [Cookie(key=LANG_COOKIE, value=asked, max_age=LANG_COOKIE_MAX_AGE_S,
                       samesite="lax", httponly=True)]
    return []


def new_form_key() -> str:
    """A fresh key for one rendering of a form: submitting it twice applies it once."""
    return secrets.token_urlsafe(12)


def form_key(form: dict, principal: Principal | None, purpose: str) -> str | None:
    raw = str(form.get(FORM_KEY_FIELD) or "")
    if not _FORM_KEY.match(raw):
        return None
    who = principal.user_id if principal else "anon"
    return f"page:u{who}:{purpose}:{raw}"


def checked_form_key(form: dict, principal: Principal | None, purpose: str, t,
                     errors: dict[str, str]) -> str | None:
    """`form_key`, with the form's error when the page's key is missing or malformed (a form
    that cannot be told apart from its resend is not sent)."""
    key = form_key(form, principal, purpose)
    if key is None:
        errors["_form"] = t("err.bad_form_key")
    return key


def points_scale_of(request: Request) -> int:
    """Steps per point of the town's points (read per page: two small indexed queries; a
    cache here would outlive a catalog import in another process)."""
    from ledger.rules.store import points_scale
    return points_scale(request.app.state.db)


def render(request: Request, template: str, *, status: int = 200, cookies: Iterable = (),
           **context: Any) -> Template:
    lang = lang_of(request)
    if "scale" not in context:  # a handler that read it in its own session passes it
        context["scale"] = points_scale_of(request)
    ctx = {"t": translator(lang), "lang": lang, "me": principal_of(request),
           "path": request.url.path, "query": request.url.query, "form_key": new_form_key(),
           "errors": {}, "values": {}, "saved": request.query_params.get("saved") == "1",
           **context}
    return Template(template_name=template, context=ctx, status_code=status,
                    cookies=[*_lang_cookie(request), *cookies])


# Where each role starts its day, most powerful first: a sign-in with no page asked for
# lands there (a volunteer on "my points").
ROLE_HOMES = (("town_admin", "/admin"), ("village_admin", "/admin"), ("organizer", "/org"),
              ("inspector", "/inspect"), ("clerk", "/clerk"))
PERSON_HOME = "/me"


def home_of(p: Principal | None) -> str:
    held = {r for r, _ in p.roles} if p is not None else set()
    return next((path for role, path in ROLE_HOMES if role in held), PERSON_HOME)


def safe_next(raw: str | None, default: str = "/me") -> str:
    """Only same-site paths: never redirect a user off the site after sign-in."""
    if not raw or len(raw) > MAX_NEXT_CHARS or not raw.startswith("/") or raw.startswith("//") \
            or "\\" in raw:
        return default
    return raw


def to_signin(request: Request) -> Redirect:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(path=f"/signin?next={quote(target)}", status_code=303)


def error_text(t, code: str, detail: str, status: int = 422) -> str:
    """An error as a person reads it in the page's language: the message of its code; on a
    Chinese page else the Chinese part of the domain's detail (without the English or the
    code in brackets after it); else a message by the status. Never a bare code."""
    own = t("err." + code, default="")
    if own:
        return own
    detail = str(detail or "")
    if getattr(t, "lang", "zh") != "zh" and detail:
        return detail
    zh = chinese_part(detail)
    if zh and not re.search(r"[A-Za-z]{4,}", zh):
        return zh
    return t(f"err.status_{status}", default="") or t("err.status_422")


def exc_text(t, exc: DomainError) -> str:
    return error_text(t, exc.code, exc.detail, exc.status)


def field_errors(exc: DomainError, t, fields: dict[str, str]) -> dict[str, str]:
    """Place a domain error next to the field it concerns. `fields` maps an error code (or a
    code prefix ending in '*') to a form field; anything else goes to the form as a whole."""
    msg = exc_text(t, exc)
    field = exc.extra.get("field") if isinstance(exc.extra.get("field"), str) else None
    if field is None and exc.code.startswith("invalid_") and exc.code[8:] in fields.values():
        field = exc.code[8:]
    for code, name in fields.items():
        if code == exc.code or (code.endswith("*") and exc.code.startswith(code[:-1])):
            field = name
            break
    return {field or "_form": msg}


def require_field(form: dict, name: str, t, errors: dict, *, max_chars: int = 200) -> str:
    value = str(form.get(name) or "").strip()
    if not value:
        errors[name] = t("err.required")
    elif len(value) > max_chars:
        errors[name] = t("err.too_long", n=max_chars)
    return value


def int_field(form: dict, name: str, t, errors: dict, *, lo: int | None = None,
              hi: int | None = None, required: bool = True) -> int | None:
    raw = str(form.get(name) or "").strip()
    if not raw:
        if required:
            errors[name] = t("err.required")
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = t("err.not_integer")
        return None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        errors[name] = t("err.out_of_range", lo=lo if lo is not None else "",
                         hi=hi if hi is not None else "")
        return None
    return value


# ---- error pages ---------------------------------------------------------------------------

def _error_page(request: Request, status: int, code: str, detail: str) -> Template:
    t = t_for(request)
    return render(request, "error.html", status=status, code=code,
                  message=error_text(t, code, detail, status))


def page_domain_error(request: Request, exc: DomainError):
    return _error_page(request, exc.status, exc.code, exc.detail)


def page_http_error(request: Request, exc: HTTPException):
    if isinstance(exc, NotAuthorizedException):
        return to_signin(request)
    if isinstance(exc, PermissionDeniedException):
        code = "csrf_failed" if "CSRF" in str(exc.detail) else "forbidden"
        return _error_page(request, 403, code, str(exc.detail))
    status = exc.status_code
    code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request",
            413: "body_too_large"}.get(status, f"http_{status}")
    return _error_page(request, status, code, str(exc.detail))


def page_internal_error(request: Request, exc: Exception):
    log.exception("page_error", path=request.url.path)
    return _error_page(request, 500, "internal_error", "internal error")


page_exception_handlers = {
    DomainError: page_domain_error,
    HTTPException: page_http_error,
    Exception: page_internal_error,
}


def need_person(request: Request, p: Principal | None) -> Principal | Redirect | Template:
    """The caller if they are a person of the registry (a volunteer or resident); a redirect to
    sign in if anonymous; for staff without a person, the /me page that says so."""
    if p is None:
        return to_signin(request)
    if p.person_id is None:
        return render(request, "me.html", person=None)
    return p


def page_role(*roles: str):
    """A page's guard, next to its route: the caller holds one of `roles` (any village; the
    domain checks the village it acts in); else sign in first, or the 403 page. The handler
    then takes `principal: Principal`."""
    return requires_role(*roles, page=True)


@contextmanager
def refusals_into(errors: dict[str, str], t, fields: dict[str, str]):
    """Around a form's domain call: a refusal (DomainError) lands in `errors`, next to the
    field it concerns (`field_errors`), and the handler goes on to show the form again."""
    try:
        yield
    except DomainError as exc:
        errors.update(field_errors(exc, t, fields))


def saved(path: str) -> Redirect:
    """After a form's write: see the page again (303), told it was saved."""
    return Redirect(path=path + ("&" if "?" in path else "?") + "saved=1", status_code=303)


def need_role(request: Request, p: Principal | None, *roles: str,
              village_id: int | None = None) -> Principal | Redirect:
    """The caller if they hold one of `roles` (town-wide, or for `village_id` when given; any
    scope when not); a redirect to sign in if anonymous; a 403 page otherwise."""
    if p is None:
        return to_signin(request)
    if not may(p, roles, ANYWHERE if village_id is None else village_id):
        raise Forbidden("this page needs one of the roles " + ", ".join(roles),
                        code="forbidden")
    return p
