"""The open-API clients sign as the platforms' public SDKs do (the strings are spelled out here from
the cited sources, not from the clients)."""
from __future__ import annotations

import base64
import hashlib
import hmac

from supply.platforms.clients import PlatformApiError, douyin, kuaishou


def test_douyin_signs_the_sorted_param_json_between_the_app_secret_as_hmac_sha256():
    params = douyin.param_json({"shop_order_id": "4837", "a": 1})
    assert params == '{"a":1,"shop_order_id":"4837"}'
    text = "sec" + "app_key" + "k1" + "method" + "order.orderDetail" + "param_json" + params + \
        "timestamp" + "2026-11-29 18:00:00" + "v" + "2" + "sec"
    expected = hmac.new(b"sec", text.encode(), hashlib.sha256).hexdigest()
    assert douyin.sign("k1", "sec", "order.orderDetail", params, "2026-11-29 18:00:00") == expected


def test_kuaishou_signs_its_system_parameters_in_order_with_the_sign_secret_last():
    params = {"access_token": "t", "appkey": "k", "method": "open.order.detail", "param": '{"oid":1}',
              "signMethod": "HMAC_SHA256", "timestamp": "1700000000000", "version": "1"}
    text = ('access_token=t&appkey=k&method=open.order.detail&param={"oid":1}&signMethod=HMAC_SHA256'
            '&timestamp=1700000000000&version=1&signSecret=ss')
    assert kuaishou.sign_text(params, "ss") == text
    assert kuaishou.sign(params, "ss") == base64.b64encode(hmac.new(b"ss", text.encode(), hashlib.sha256).digest()).decode()
    assert kuaishou.sign({**params, "signMethod": "MD5"}, "ss") == hashlib.md5(
        text.replace("HMAC_SHA256", "MD5").encode()).hexdigest()


def test_a_refused_token_and_a_rate_limit_are_retryable_and_a_business_error_is_not():
    assert PlatformApiError("30002", "expired", token_invalid=True).retryable
    assert PlatformApiError("50002", "slow down", rate_limited=True).retryable
    assert not PlatformApiError("60001", "order not found").retryable
