"""The SMS adapters against local stand-ins that check the signatures as the gateways document them."""
from __future__ import annotations

import pytest

from supply.sms import SmsConfig, gateway_for, mainland_mobile, sms_parts
from tests.fakes.sms_aliyun import AliyunSmsFake
from tests.fakes.sms_tencent import TencentSmsFake

PARAMS = {"day": "11月30日", "eta": "09:10", "window": "08:00-12:00", "items": "苦荞挂面500g 4袋"}


def aliyun(fake, **changes):
    raw = {"gateway": "aliyun", "base_url": fake.base_url, "key_id": "LTAI-test", "key_secret": "secret-of-test",
           "sign_name": "马家沟合作社", **changes}
    return gateway_for(SmsConfig.from_dict(raw))


def tencent(fake, **changes):
    raw = {"gateway": "tencent", "base_url": fake.base_url, "key_id": "AKID-test", "key_secret": "tencent-secret",
           "app_id": "1400006666", "sign_name": "马家沟合作社", **changes}
    return gateway_for(SmsConfig.from_dict(raw))


def test_alibaba_cloud_accepts_our_signed_sendsms_with_the_template_and_its_parameters():
    with AliyunSmsFake() as fake:
        result = aliyun(fake).send("13800001111", "SMS_1001", PARAMS)
        assert result.ok and result.provider_ref == fake.sent[0]["biz_id"]
        assert fake.sent[0] == {"phone": "13800001111", "sign_name": "马家沟合作社", "template": "SMS_1001",
                                "params": PARAMS, "biz_id": result.provider_ref}


def test_alibaba_cloud_refuses_a_wrong_secret_and_limits_a_number_and_an_illegal_number_is_named():
    with AliyunSmsFake(per_number=2) as fake:
        bad = aliyun(fake, key_secret="not-the-secret").send("13800001111", "SMS_1001", PARAMS)
        assert not bad.ok and bad.code == "SignatureDoesNotMatch" and fake.sent == []
        gateway = aliyun(fake)
        assert [gateway.send("13800001111", "SMS_1001", PARAMS).ok for _ in range(3)] == [True, True, False]
        limited = gateway.send("13800001111", "SMS_1001", PARAMS)
        assert limited.rate_limited and limited.code == "isv.BUSINESS_LIMIT_CONTROL"
        illegal = gateway.send("057188881234", "SMS_1001", PARAMS)
        assert illegal.invalid_number and not illegal.ok


def test_tencent_cloud_accepts_our_tc3_signed_sendsms_and_reads_the_send_status():
    with TencentSmsFake() as fake:
        result = tencent(fake).send("13900002222", "2001", PARAMS)
        assert result.ok and result.provider_ref == fake.sent[0]["serial"]
        assert fake.sent[0]["phone"] == "+8613900002222" and fake.sent[0]["params"] == list(PARAMS.values())
        assert fake.sent[0]["sign_name"] == "马家沟合作社"


def test_tencent_cloud_refuses_a_wrong_key_and_the_same_content_twice_in_thirty_seconds():
    with TencentSmsFake() as fake:
        bad = tencent(fake, key_secret="wrong").send("13900002222", "2001", PARAMS)
        assert not bad.ok and bad.code == "AuthFailure.SignatureFailure" and fake.sent == []
        gateway = tencent(fake)
        assert gateway.send("13900002222", "2001", PARAMS).ok
        again = gateway.send("13900002222", "2001", PARAMS)
        assert again.rate_limited and again.code == "LimitExceeded.PhoneNumberThirtySecondLimit"
        assert tencent(fake, app_id="1400000000").send("13900002222", "2002", PARAMS).code == \
            "InvalidParameterValue.SdkAppIdNotExist"


def test_an_unreachable_gateway_is_a_failed_send_not_a_crash():
    with AliyunSmsFake() as fake:
        url = fake.base_url
    result = aliyun(type("Gone", (), {"base_url": url})()).send("13800001111", "SMS_1001", PARAMS)
    assert not result.ok and result.code == "unreachable"


@pytest.mark.parametrize("phone,mobile", [
    ("+86 138 0000 1111", "13800001111"), ("0086-139-0000-2222", "13900002222"), ("8615700003333", "15700003333"),
    ("13800001111", "13800001111"), ("0571-8888 1234", None), ("12345678901", None), ("1380000111", None),
    ("", None), (None, None), ("+1 415 555 0100", None)])
def test_only_mainland_mobile_numbers_can_take_an_sms(phone, mobile):
    assert mainland_mobile(phone) == mobile


def test_a_text_of_70_chinese_characters_is_one_sms_and_longer_ones_split_in_parts_of_67():
    assert [sms_parts("字" * n) for n in (1, 70, 71, 134, 135)] == [1, 1, 2, 2, 3]


def test_a_gateway_configuration_without_its_keys_is_refused():
    with pytest.raises(ValueError, match="app_id"):
        SmsConfig.from_dict({"gateway": "tencent", "base_url": "http://x", "key_id": "a", "key_secret": "b",
                             "sign_name": "c"})
    with pytest.raises(ValueError, match="gateway"):
        SmsConfig.from_dict({"gateway": "smsbao"})
    assert SmsConfig.from_dict({}) is None
