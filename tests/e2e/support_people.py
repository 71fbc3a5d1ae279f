"""What the role walks share: the SMS code the configured sender delivered (in the embedded
default the log sender writes it to the server's log, which is where an operator reads it), and
a volunteer with a phone number."""

from __future__ import annotations

import json
import re
import time
import uuid

from ledger.registry.models import Person
from tests.e2e.conftest import LiveApp
from tests.builders.redemption import make_person

SMS_WAIT_S = 10


def log_offset(live_app: LiveApp) -> int:
    """Where the server's log ends now: codes sent after this point are the ones wanted."""
    return (live_app.settings.data_dir / "server.log").stat().st_size


def sms_code(live_app: LiveApp, after: int) -> str:
    """The last code the log sender wrote after byte `after` of the server log."""
    path = live_app.settings.data_dir / "server.log"
    deadline = time.monotonic() + SMS_WAIT_S
    while True:
        with path.open("rb") as f:
            f.seek(after)
            codes = []
            for line in f.read().decode("utf-8", "replace").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and row.get("event") == "otp_code":
                    codes.append(str(row["code"]))
        if codes:
            return codes[-1]
        if time.monotonic() > deadline:
            raise AssertionError("no sign-in code was sent")
        time.sleep(0.2)


def make_volunteer(live_app: LiveApp, village: int, name: str = "林阿伯") -> tuple[int, str]:
    """A volunteer on the register with a mobile number and no account: they sign in by phone."""
    person = make_person(live_app.db, village)
    phone = "139" + f"{uuid.uuid4().int % 10 ** 8:08d}"
    with live_app.db.transaction() as s:
        p = s.get(Person, person)
        p.phone, p.name, p.is_volunteer = phone, name, True
    return person, phone


def sign_in_by_phone(page, live_app: LiveApp, phone: str) -> None:
    """On the sign-in page: type the phone, press 获取验证码, type the code sent, press 登录."""
    mark = log_offset(live_app)
    page.get_by_label(re.compile(r"^手机号")).fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_text("验证码已发送").wait_for()
    page.get_by_label("验证码", exact=True).fill(sms_code(live_app, mark))
    page.locator("form[action='/signin/code']").get_by_role("button", name="登录").click()


def sign_in_with_password(page, login: str, password: str | None = None,
                          next_path: str | None = None) -> None:
    """On the sign-in page: the staff form's account and password, 登录 (the demo password
    unless another is given); with `next_path`, waits to land there."""
    from ledger.demo import DEMO_PASSWORD
    page.goto("/signin" + (f"?next={next_path}" if next_path else ""))
    form = page.locator("form[action='/signin']")
    form.get_by_label(re.compile(r"^账号")).fill(login)
    form.get_by_label(re.compile(r"^密码")).fill(password or DEMO_PASSWORD)
    form.get_by_role("button", name="登录").click()
    if next_path:
        page.wait_for_url(f"**{next_path}")


def decode_qr(locator) -> str:
    """What a phone's camera reads from the QR code shown by `locator` (a real decoder)."""
    from tests.qr_support import qr_texts
    found = qr_texts(locator.screenshot())
    assert found, "no QR code could be read from the screen"
    return found[0]


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)
