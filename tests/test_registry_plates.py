"""Door plates: the QR codes (PNG, SVG, and the printable PDF sheet) decode with a real QR
decoder (zbar) to the household's public page URL; the public summary shows no personal data."""

from __future__ import annotations

import re

import pypdfium2
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from ledger.registry import plates
from tests.builders.registry import make_household, make_world
from tests.qr_support import pdf_qr_texts, qr_texts


def _svg_to_image(svg: str, scale: int = 8) -> Image.Image:
    """Rasterise qrcode's SVG path (unit squares 'Mx,yHx2Vy2Hxz') to check what it encodes."""
    size = int(float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1)))
    img = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(img)
    for x, y, x2, y2 in re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H[\d.]+z", svg):
        draw.rectangle([float(x) * scale, float(y) * scale, float(x2) * scale - 1,
                        float(y2) * scale - 1], fill=0)
    return img


def test_plate_png_from_the_api_decodes_to_the_public_page(client, db, auth, settings):
    w = make_world(db, fund=False)
    h = make_household(db, w.own)
    r = client.get(f"/api/v1/households/{h['id']}/plate.png",
                   headers=auth("village_admin", village_id=w.own))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert qr_texts(r.content) == [f"{settings.public_base_url}/h/{h['plate_code']}"]


def test_plate_svg_encodes_the_same_url(client, db, auth, settings):
    w = make_world(db, fund=False)
    h = make_household(db, w.own)
    r = client.get(f"/api/v1/households/{h['id']}/plate.svg",
                   headers=auth("inspector", village_id=w.own))
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    found = qr_texts(_svg_to_image(r.text))
    assert found == [f"http://testserver.local/h/{h['plate_code']}"]


def test_small_png_modules_still_decode():
    url = "https://jifen.example.cn/h/Zx_9-abcdEFGHijkl"
    assert qr_texts(plates.qr_png(url, box_px=3)) == [url]


def test_village_sheet_pdf_holds_every_household_plate(client, db, auth, settings):
    w = make_world(db, fund=False)
    codes = {make_household(db, w.own, members=1)["plate_code"] for _ in range(10)}
    make_household(db, w.other, members=1)  # not on this village's sheet
    r = client.get(f"/api/v1/villages/{w.own}/plates.pdf",
                   headers=auth("village_admin", village_id=w.own))
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert len(pypdfium2.PdfDocument(r.content)) == 2  # eight plates a page
    urls = pdf_qr_texts(r.content, dpi=144)
    assert sorted(urls) == sorted(f"{settings.public_base_url}/h/{c}" for c in codes)


def test_cli_plates_writes_the_village_sheet(db, settings, tmp_path, monkeypatch):
    from api.cli import app
    w = make_world(db, fund=False)
    code = make_household(db, w.own, members=1)["plate_code"]
    monkeypatch.setenv("JIFEN_DATABASE_URL", db.url)
    monkeypatch.setenv("JIFEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JIFEN_PUBLIC_URL", "https://jifen.baogai.example")
    out = tmp_path / "plates.pdf"
    result = CliRunner().invoke(app, ["plates", "--village", w.own_name, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pdf_qr_texts(out.read_bytes(), dpi=144) == [
        f"https://jifen.baogai.example/h/{code}"]


def test_public_summary_shows_village_and_points_but_no_personal_data(client, db, auth):
    w = make_world(db)
    h = make_household(db, w.own)
    r = client.post("/api/v1/ledger/adjustments", headers=auth("village_admin", village_id=w.own),
                    json={"village_id": w.own, "holder_type": "household", "holder_id": h["id"],
                          "amount": 15, "memo": "庭院整洁"})
    assert r.status_code == 201, r.text
    r = client.get(f"/api/v1/public/households/{h['plate_code']}")  # no token
    assert r.status_code == 200
    body = r.json()
    assert body == {"plate_code": h["plate_code"], "town": body["town"], "village": w.own_name,
                    "balance_points": 15, "balance_steps": 15, "score_this_year_points": 15,
                    "score_this_year_steps": 15, "scale": 1}
    assert "陈" not in r.text and "演示路" not in r.text
    assert client.get("/api/v1/public/households/nope-nope-nope").json()["code"] == \
        "plate_not_found"


def test_plate_of_another_village_is_refused(client, db, auth):
    w = make_world(db, fund=False)
    h = make_household(db, w.other)
    r = client.get(f"/api/v1/households/{h['id']}/plate.png",
                   headers=auth("village_admin", village_id=w.own))
    assert r.status_code == 403 and r.json()["code"] == "forbidden_village"


def test_a_plate_names_its_household_and_a_form_lists_only_the_villages_asked_for(db):
    from ledger.errors import NotFound
    from ledger.registry.lookup import household_of_plate, villages
    from ledger.registry.models import Household
    from tests.builders.redemption import make_household as one_household, make_town
    t = make_town(db, villages=3)
    hid = one_household(db, t["villages"][1])
    with db.sessions() as s:
        plate = s.get(Household, hid).plate_code
    assert household_of_plate(db, plate) == hid
    with pytest.raises(NotFound) as e:
        household_of_plate(db, "no-such-plate")
    assert e.value.code == "plate_not_found"
    mine = villages(db, counts=False, within={t["villages"][1]})
    assert [(v.id, v.households) for v in mine] == [(t["villages"][1], None)]
    assert villages(db, counts=False, within=set()) == []
    counted = {v.id: v.households for v in villages(db, t["town"])}
    assert counted == {t["villages"][0]: 0, t["villages"][1]: 1, t["villages"][2]: 0}
