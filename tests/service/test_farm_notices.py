"""Notices to farms from the published plan: SMS through a gateway (local stand-ins that check the
signatures) or slips and a call list; corrections after a re-plan only to the farms that changed;
every notice recorded with its delivery status; numbers that are not mobiles reported, not sent."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from tests.farmside import DAY, FARMS, build
from tests.fakes.sms_aliyun import AliyunSmsFake
from tests.fakes.sms_tencent import TencentSmsFake

ALIYUN = {"gateway": "aliyun", "key_id": "LTAI-test", "key_secret": "secret-of-test", "sign_name": "合作社",
          "templates": {"notice": "SMS_1001", "correction": "SMS_1002", "cancellation": "SMS_1003"},
          "min_interval_s": 0}
TENCENT = {"gateway": "tencent", "key_id": "AKID-test", "key_secret": "tencent-secret", "app_id": "1400006666",
           "sign_name": "合作社", "templates": {"notice": "2001", "correction": "2002", "cancellation": "2003"},
           "min_interval_s": 0}


def client_with_sms(db, settings, sms: dict):
    from supply.app import create_app
    from supply.wiring import build_services

    with_sms = settings.with_(sms=sms)
    return create_app(with_sms, services=build_services(with_sms, db=db)).test_client()


def notify(client, manager, **extra):
    """POST /notices: a job (inline here), whose result is the run's summary."""
    response = client.post("/api/v1/notices", json={"date": DAY.isoformat(), **extra}, headers=manager)
    assert response.status_code == 202, response.get_json()
    job = client.get(response.headers["Location"], headers=manager).get_json()
    assert job["status"] == "finished", job
    return job["result"]


def replan(db, world, *, change_farm: int, drop_farm: int) -> None:
    """A new version of the plan, published: one farm's quantity and time change, one farm is dropped."""
    from supply.db.models import DispatchPlan, Route, Stop, StopItem

    with db.transaction() as s:
        old = s.get(DispatchPlan, world["plan_id"])
        old.status = "superseded"
        plan = DispatchPlan(cooperative_id=1, hub_id=old.hub_id, date=DAY, version=2, status="published",
                            unplanned=[], published_at=datetime.now(timezone.utc))
        s.add(plan)
        s.flush()
        old_route = old.routes[0]
        route = Route(plan_id=plan.id, vehicle_id=old_route.vehicle_id, driver_id=old_route.driver_id,
                      departure_at=old_route.departure_at, return_at=old_route.return_at, distance_m=0, duration_s=0)
        s.add(route)
        s.flush()
        for old_stop in old_route.stops:
            if old_stop.farm_id == drop_farm:
                continue
            shift = timedelta(minutes=50) if old_stop.farm_id == change_farm else timedelta(0)
            stop = Stop(route_id=route.id, sequence=old_stop.sequence, kind="pickup", farm_id=old_stop.farm_id,
                        arrival_at=old_stop.arrival_at + shift, departure_at=old_stop.departure_at + shift,
                        load_after_kg=1, load_after_l=1, legs=[])
            s.add(stop)
            s.flush()
            for item in old_stop.items:
                s.add(StopItem(stop_id=stop.id, pickup_id=item.pickup_id, quantity=item.quantity))


def test_without_a_gateway_every_farm_with_a_pickup_gets_a_written_notice_a_slip_and_a_call_list_row(
        client, manager, db, tokens):
    from pypdf import PdfReader

    from supply.sms import sms_parts

    world = build(client, manager, db, tokens)
    summary = notify(client, manager)
    assert summary["channel"] == "slip" and summary["notice"] == summary["farms"] == 3
    assert summary["by_status"] == {"written": 3} and summary["invalid_numbers"] == []
    notices = client.get(f"/api/v1/notices?date={DAY.isoformat()}", headers=manager).get_json()
    assert {n["farm_id"] for n in notices} == set(world["farms"])
    for n in notices:
        quantity = world["quantities"][n["farm_id"]]
        assert n["body"].startswith("【Default cooperative】")  # the cooperative's name, as SMS signs
        assert f"苦荞挂面 500 g×{quantity}袋" in n["body"] and "11月30日" in n["body"] and "来收货" in n["body"]
        assert re.search(r"约\d\d:\d0来收货（您的时段08:00-12:00）", n["body"])
        assert n["segments"] == sms_parts(n["body"]) == (1 if len(n["body"]) <= 70 else 2)
    pdf = client.get(f"/api/v1/notices/slips.pdf?date={DAY.isoformat()}", headers=manager)
    text = re.sub(r"[\s\x00]+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages))
    assert text.count("收货通知") >= 3 and all(name.replace(" ", "") in text for name, _ in FARMS)
    rows = list(csv.reader(io.StringIO(client.get(f"/api/v1/notices/call-list.csv?date={DAY.isoformat()}",
                                                  headers=manager).get_data(as_text=True))))
    assert rows[0][:4] == ["农户编号", "农户", "电话", "手机"]
    assert {r[1]: r[3] for r in rows[1:]} == {"马家 Ma": "是", "李家 Li": "是", "王家 Wang": "否"}
    # Nothing changed: running again tells no one anything.
    again = notify(client, manager)
    assert (again["notice"], again["correction"], again["unchanged"]) == (0, 0, 3)


def test_through_alibaba_cloud_mobiles_get_an_sms_and_a_landline_is_reported_not_sent(client, manager, db, tokens,
                                                                                      settings):
    world = build(client, manager, db, tokens)
    with AliyunSmsFake() as fake:
        sms_client = client_with_sms(db, settings, {**ALIYUN, "base_url": fake.base_url})
        summary = notify(sms_client, manager)
        assert summary["channel"] == "sms" and summary["by_status"] == {"sent": 2, "invalid_number": 1}
        assert [n["farm_name"] for n in summary["invalid_numbers"]] == ["王家 Wang"]
        assert sorted(m["phone"] for m in fake.sent) == ["13800001111", "13900002222"]
        assert {m["template"] for m in fake.sent} == {"SMS_1001"} and fake.refused == []
        notices = {n["farm_name"]: n for n in sms_client.get(f"/api/v1/notices?date={DAY.isoformat()}",
                                                              headers=manager).get_json()}
        assert notices["王家 Wang"]["status"] == "invalid_number" and notices["王家 Wang"]["sent_at"] is None
        sent = {m["phone"]: m for m in fake.sent}
        ma = notices["马家 Ma"]
        assert ma["status"] == "sent" and ma["provider_ref"] == sent["13800001111"]["biz_id"]
        assert sent["13800001111"]["params"]["items"] == f"苦荞挂面 500 g×{world['quantities'][world['farms'][0]]}袋"


def test_after_a_re_plan_only_the_farms_whose_notice_changed_hear_again(client, manager, db, tokens, settings):
    world = build(client, manager, db, tokens)
    ma, li, wang = world["farms"]
    with TencentSmsFake() as fake:
        sms_client = client_with_sms(db, settings, {**TENCENT, "base_url": fake.base_url})
        notify(sms_client, manager)
        assert len(fake.sent) == 2
        replan(db, world, change_farm=li, drop_farm=ma)
        second = notify(sms_client, manager)
        assert (second["notice"], second["correction"], second["cancellation"]) == (0, 1, 1)
        assert second["unchanged"] == 1  # Wang: the same notice (its number still cannot take one)
        assert [(m["phone"], m["template"]) for m in fake.sent[2:]] == [("+8613800001111", "2003"),
                                                                       ("+8613900002222", "2002")]
        third = notify(sms_client, manager)
        assert (third["correction"], third["cancellation"], third["unchanged"]) == (0, 0, 2) and len(fake.sent) == 4
    notices = client.get(f"/api/v1/notices?date={DAY.isoformat()}&farm_id={li}", headers=manager).get_json()
    assert [n["kind"] for n in notices] == ["notice", "correction"]
    assert notices[1]["body"].startswith("【") and "更正" in notices[1]["body"]


def test_a_number_over_its_limit_is_held_back_and_recorded_as_rate_limited(client, manager, db, tokens, settings):
    from supply.db.farmside import FarmNotice

    world = build(client, manager, db, tokens)
    with AliyunSmsFake() as fake:
        sms_client = client_with_sms(db, settings, {**ALIYUN, "base_url": fake.base_url, "min_interval_s": 3600})
        notify(sms_client, manager)
        replan(db, world, change_farm=world["farms"][0], drop_farm=-1)
        second = notify(sms_client, manager)
        assert second["correction"] == 1 and second["by_status"]["rate_limited"] == 1
        assert len(fake.sent) == 2  # the correction never reached the gateway
    with db.transaction() as s:
        held = s.execute(select(FarmNotice).where(FarmNotice.status == "rate_limited")).scalar_one()
        assert held.kind == "correction" and "3600 s" in held.error


def test_a_notice_for_one_product_is_one_sms_and_one_for_many_is_split_as_sms_does():
    from supply.services.notices import Draft, notice_text
    from supply.sms import sms_parts

    one = Draft(1, "马家", "13800001111", 1, (("NOODLE-500", "苦荞挂面500g", 120, "袋"),), "09:10", ("08:00", "12:00"))
    body, _ = notice_text("马家沟苦荞种植专业合作社", DAY, one, "notice")
    assert body == "【马家沟苦荞种植专业合作社】11月30日约09:10来收货（您的时段08:00-12:00），请备好苦荞挂面500g×120袋。"
    assert len(body) <= 70 and sms_parts(body) == 1

    items = tuple((f"SKU{i}", f"高山有机苦荞挂面{i}号", 120, "袋") for i in range(4))
    draft = Draft(1, "马家", "13800001111", 1, items, "09:10", ("08:00", "12:00"))
    body, params = notice_text("马家沟苦荞种植专业合作社", DAY, draft, "notice")
    assert len(body) > 70 and sms_parts(body) == -(-len(body) // 67) >= 2
    assert params["items"].count("、") == 3


def test_notices_need_a_day_and_a_known_language(client, manager, db, tokens):
    bad = client.post("/api/v1/notices", json={"lang": "fr"}, headers=manager)
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"date", "lang"}
