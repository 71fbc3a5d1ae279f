"""Sign-in codes through Alibaba Cloud and Tencent Cloud SMS, against local fakes that check
each request's documented signature and answer in the documented shapes: a refusal is tried
once more, a second refusal is `sms_send_failed` (502)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest

from ledger.config import SmsSettings
from ledger.identity import otp, sms
from ledger.ratelimit import RateLimiter
from tests.conftest import REDIS_URL
from tests.fake_providers import FakeAliyunSms, FakeTencentSms
from tests.builders.registry import fake_phone, make_person, make_world

ALI = dict(access_key_id="LTAI-test", access_key_secret="ali-secret-1", sign_name="宝盖镇积分",
           template_id="SMS_71390007", template_params=("code",))
TC = dict(access_key_id="AKID-test", access_key_secret="tc-secret-1", sign_name="宝盖镇积分",
          template_id="1110", sdk_app_id="1400006666", template_params=("code", "minutes"))


@pytest.fixture(autouse=True)
def quick_retry(monkeypatch):
    monkeypatch.setattr(sms, "RETRY_DELAY_S", 0.0)


def test_aliyun_signature_matches_the_documented_example():
    """The worked example of Alibaba's SMS signature document (GET, testId / testSecret)."""
    params = {"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
              "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou",
              "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
              "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007",
              "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
              "Version": "2017-05-25"}
    assert sms.aliyun_signature("testSecret", "GET", params) == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    with FakeAliyunSms("testId", "testSecret") as fake:  # the fake's own computation agrees
        assert fake.expected_signature("GET", params) == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_aliyun_sender_sends_the_code_with_a_signature_the_fake_accepts():
    with FakeAliyunSms("LTAI-test", "ali-secret-1") as fake:
        sender = sms.AliyunSender(SmsSettings(provider="aliyun", endpoint=fake.url + "/", **ALI))
        sender.send("13812345678", "042042", 300)
        [req] = fake.requests
    assert req["PhoneNumbers"] == "13812345678" and req["SignName"] == "宝盖镇积分"
    assert req["TemplateCode"] == "SMS_71390007"
    assert json.loads(req["TemplateParam"]) == {"code": "042042"}


def test_aliyun_refusal_is_retried_once_then_succeeds():
    with FakeAliyunSms("LTAI-test", "ali-secret-1") as fake:
        fake.fail_next = 1
        sms.AliyunSender(SmsSettings(provider="aliyun", endpoint=fake.url + "/", **ALI)) \
            .send("13812345678", "111111", 300)
        assert len(fake.requests) == 2
        assert fake.requests[0]["SignatureNonce"] != fake.requests[1]["SignatureNonce"]


def test_aliyun_two_refusals_are_a_clear_error_with_its_own_code():
    with FakeAliyunSms("LTAI-test", "ali-secret-1") as fake:
        fake.fail_next = 2
        with pytest.raises(sms.SmsSendFailed) as e:
            sms.AliyunSender(SmsSettings(provider="aliyun", endpoint=fake.url + "/", **ALI)) \
                .send("13812345678", "111111", 300)
        assert len(fake.requests) == 2
    assert e.value.code == "sms_send_failed" and e.value.status == 502
    assert e.value.extra == {"provider": "aliyun", "provider_code": "isv.BUSINESS_LIMIT_CONTROL"}


def test_aliyun_fake_refuses_a_wrong_secret():
    with FakeAliyunSms("LTAI-test", "the-real-secret") as fake:
        with pytest.raises(sms.SmsSendFailed) as e:
            sms.AliyunSender(SmsSettings(provider="aliyun", endpoint=fake.url + "/", **ALI)) \
                .send("13812345678", "111111", 300)
    assert e.value.extra["provider_code"] == "SignatureDoesNotMatch"


def test_tencent_sender_signs_tc3_and_sends_code_and_minutes():
    with FakeTencentSms("AKID-test", "tc-secret-1") as fake:
        sms.TencentSender(SmsSettings(provider="tencent", endpoint=fake.url + "/", **TC)) \
            .send("13812345678", "042042", 300)
        [req] = fake.requests
    body = json.loads(req["body"])
    assert body == {"PhoneNumberSet": ["+8613812345678"], "SmsSdkAppId": "1400006666",
                    "SignName": "宝盖镇积分", "TemplateId": "1110",
                    "TemplateParamSet": ["042042", "5"]}
    assert req["headers"]["x-tc-region"] == "ap-guangzhou"
    assert "SignedHeaders=content-type;host;x-tc-action" in req["headers"]["authorization"]


def test_tencent_failed_number_is_retried_once_and_then_an_error():
    with FakeTencentSms("AKID-test", "tc-secret-1") as fake:
        sender = sms.TencentSender(SmsSettings(provider="tencent", endpoint=fake.url + "/", **TC))
        fake.fail_next = 1
        sender.send("13812345678", "111111", 300)
        assert len(fake.requests) == 2
        fake.fail_next = 2
        with pytest.raises(sms.SmsSendFailed) as e:
            sender.send("13812345678", "222222", 300)
        assert len(fake.requests) == 4
    assert e.value.extra["provider_code"] == "LimitExceeded.PhoneNumberOneHourLimit"


def test_tencent_fake_refuses_a_wrong_key():
    with FakeTencentSms("AKID-test", "another-key") as fake:
        with pytest.raises(sms.SmsSendFailed) as e:
            sms.TencentSender(SmsSettings(provider="tencent", endpoint=fake.url + "/", **TC)) \
                .send("13812345678", "111111", 300)
    assert e.value.extra["provider_code"] == "AuthFailure.SignatureFailure"


def test_unreachable_provider_is_retried_then_sms_send_failed():
    # a port nothing listens on: the fake is closed before the send
    with FakeAliyunSms("LTAI-test", "ali-secret-1") as fake:
        url = fake.url + "/"
    with pytest.raises(sms.SmsSendFailed) as e:
        sms.AliyunSender(SmsSettings(provider="aliyun", endpoint=url, timeout_s=1, **ALI)) \
            .send("13812345678", "111111", 300)
    assert e.value.extra["provider_code"] == "transport"


def test_provider_settings_name_what_is_missing():
    with pytest.raises(ValueError, match="JIFEN_SMS_SDK_APP_ID"):
        SmsSettings(provider="tencent", **{**TC, "sdk_app_id": ""})
    with pytest.raises(ValueError, match="JIFEN_SMS_SIGN_NAME"):
        SmsSettings(provider="aliyun", **{**ALI, "sign_name": ""})
    assert isinstance(otp.load_sender(sms=SmsSettings(provider="aliyun", **ALI)),
                      sms.AliyunSender)


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_volunteer_signs_in_with_a_code_the_provider_delivered(client, db, settings, provider):
    """The whole path over HTTP: the API asks the (fake) provider to send the code; the code
    the provider received signs the volunteer in. A provider down twice answers 502."""
    w = make_world(db, fund=False)
    phone = fake_phone()
    make_person(db, w.own, phone=phone, is_volunteer=True)
    client.app.state.limiter = RateLimiter(REDIS_URL, prefix=f"jifen:test:{uuid.uuid4().hex}:")
    fake_cls, conf = (FakeAliyunSms, ALI) if provider == "aliyun" else (FakeTencentSms, TC)
    with fake_cls(conf["access_key_id"], conf["access_key_secret"]) as fake:
        sms_settings = SmsSettings(provider=provider, endpoint=fake.url + "/", **conf)
        client.app.state.settings = replace(settings, sms=sms_settings)
        client.app.state.otp_sender = None  # made from the settings on first use
        r = client.post("/api/v1/auth/code", json={"phone": phone})
        assert r.status_code == 202, r.text
        if provider == "aliyun":
            code = json.loads(fake.requests[-1]["TemplateParam"])["code"]
        else:
            code = json.loads(fake.requests[-1]["body"])["TemplateParamSet"][0]
        r = client.post("/api/v1/auth/code/verify", json={"phone": phone, "code": code})
        assert r.status_code == 200, r.text
        fake.fail_next = 2
        r = client.post("/api/v1/auth/code", json={"phone": phone})
    assert r.status_code == 502 and r.json()["code"] == "sms_send_failed"
