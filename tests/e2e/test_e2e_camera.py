"""The in-page camera scanner, end to end: Chromium's fake camera films a voucher's QR code,
the page decodes it (BarcodeDetector where the browser has one, else the vendored jsQR) and
opens the voucher at the counter."""

from __future__ import annotations

import io

import pytest
import qrcode

from api.auth import Principal
from ledger.redemption import service as redemption
from ledger.redemption.vouchers import voucher_url
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, sign_in_as
from tests.builders.redemption import (
    give_points,
    make_person,
    make_reward,
    make_shop,
    make_town,
)

CLERK_USER = 90_101
FRAME_W, FRAME_H = 640, 480


def write_y4m(path, data: str) -> None:
    """A still video (Y4M, 4:2:0) of the QR code of `data`, for Chromium's fake camera."""
    from PIL import Image
    img = qrcode.make(data, box_size=8, border=4).get_image().convert("L")
    side = min(FRAME_H - 40, img.width)
    img = img.resize((side, side), Image.NEAREST)
    frame = Image.new("L", (FRAME_W, FRAME_H), 255)
    frame.paste(img, ((FRAME_W - side) // 2, (FRAME_H - side) // 2))
    y = frame.tobytes()
    uv = bytes([128]) * (FRAME_W // 2 * FRAME_H // 2)
    buf = io.BytesIO()
    buf.write(f"YUV4MPEG2 W{FRAME_W} H{FRAME_H} F5:1 Ip A1:1 C420jpeg\n".encode())
    for _ in range(5):
        buf.write(b"FRAME\n" + y + uv + uv)
    path.write_bytes(buf.getvalue())


@pytest.fixture
def voucher(live_app):
    db = live_app.db
    town = make_town(db, villages=1)
    village = town["villages"][0]
    person = make_person(db, village)
    give_points(db, "person", person, village, 80)
    shop = make_shop(db, town["town"], name="扫码测试超市", clerks=(CLERK_USER,))
    reward = make_reward(db, shop, stock=1, cost_points=80, name="保温杯")
    order = redemption.redeem(db, reward_id=reward.id, holder_type="person",
                              holder_id=person, quantity=1, actor_id=None, key=None)
    return order.voucher.code


def test_clerk_scans_voucher_with_the_phone_camera(playwright, live_app, voucher, tmp_path):
    video = tmp_path / "qr.y4m"
    write_y4m(video, voucher_url(live_app.url, voucher))
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"])
    try:
        ctx = b.new_context(viewport=PHONE, base_url=live_app.url, locale="zh-CN",
                            permissions=["camera"])
        page = ctx.new_page()
        sign_in_as(page, live_app, Principal(user_id=CLERK_USER, name="店员",
                                             roles=(("clerk", None),)))
        page.goto("/clerk")
        page.get_by_role("button", name="打开相机").click()
        page.wait_for_url(f"**/v/{voucher}", timeout=15_000)
        assert page.get_by_test_id("hand-over").inner_text() == "保温杯 ×1"
    finally:
        b.close()
