"""A local stand-in for Alibaba Cloud SMS SendSms (dysmsapi 2017-05-25), written from its documents:

- the RPC signature v1.0 (https://www.alibabacloud.com/help/en/sms/signature-method): parameters but
  Signature sorted, RFC 3986 percent-encoding, StringToSign = METHOD&%2F&encode(query), key = secret + "&",
  Base64(HMAC-SHA1); SignatureNonce must not repeat; Timestamp in UTC, ISO 8601.
- SendSms (https://help.aliyun.com/document_detail/55284.html): PhoneNumbers, SignName, TemplateCode,
  TemplateParam (JSON of strings); answers {"Code": "OK", "Message": "OK", "BizId", "RequestId"}.
- error codes (https://help.aliyun.com/document_detail/101347.htm): isv.MOBILE_NUMBER_ILLEGAL,
  isv.BUSINESS_LIMIT_CONTROL, isv.SMS_TEMPLATE_ILLEGAL, isv.INVALID_JSON_PARAM.
Assumptions (marked): the signature is verified independently of the product's code here; a bad
signature is HTTP 400 with Code "SignatureDoesNotMatch" and a repeated nonce "SignatureNonceUsed" (the
documents name these codes for the RPC style, the HTTP status is our guess); the per-number flow
control (the documents say a notice may go to one number a limited number of times) is `per_number`
messages, then isv.BUSINESS_LIMIT_CONTROL.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote

from tests.fakes.sms_base import FakeGateway


def _enc(value: str) -> str:
    return quote(value, safe="~")


class AliyunSmsFake(FakeGateway):
    def __init__(self, key_id="LTAI-test", key_secret="secret-of-test", templates=("SMS_1001", "SMS_1002", "SMS_1003"),
                 per_number: int = 3):
        super().__init__()
        self.key_id, self.key_secret, self.templates, self.per_number = key_id, key_secret, set(templates), per_number
        self.nonces: set[str] = set()

    def _error(self, code: str, status: int = 200) -> tuple[int, str]:
        with self.lock:
            self.refused.append({"code": code})
        return status, json.dumps({"Code": code, "Message": code, "RequestId": uuid.uuid4().hex})

    def handle(self, method, path, headers, body):
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        given = params.pop("Signature", "")
        canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items()))
        to_sign = f"{method}&{_enc('/')}&{_enc(canonical)}"
        expected = base64.b64encode(hmac.new(f"{self.key_secret}&".encode(), to_sign.encode(), hashlib.sha1)
                                    .digest()).decode()
        if params.get("AccessKeyId") != self.key_id:
            return self._error("InvalidAccessKeyId.NotFound", 404)
        if (params.get("SignatureMethod"), params.get("SignatureVersion")) != ("HMAC-SHA1", "1.0") \
                or not hmac.compare_digest(given, expected):
            return self._error("SignatureDoesNotMatch", 400)
        when = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        if abs(datetime.now(timezone.utc) - when) > timedelta(minutes=15):
            return self._error("InvalidTimeStamp.Expired", 400)
        with self.lock:
            if params["SignatureNonce"] in self.nonces:
                return self._error("SignatureNonceUsed", 400)
            self.nonces.add(params["SignatureNonce"])
        if (params.get("Action"), params.get("Version")) != ("SendSms", "2017-05-25"):
            return self._error("InvalidAction", 400)
        phone = params.get("PhoneNumbers", "")
        if not re.fullmatch(r"(\+?86|0086)?1[3-9]\d{9}", phone):
            return self._error("isv.MOBILE_NUMBER_ILLEGAL")
        if params.get("TemplateCode") not in self.templates:
            return self._error("isv.SMS_TEMPLATE_ILLEGAL")
        try:
            values = json.loads(params.get("TemplateParam", "{}"))
            assert isinstance(values, dict) and all(isinstance(v, str) for v in values.values())
        except (ValueError, AssertionError):
            return self._error("isv.INVALID_JSON_PARAM")
        with self.lock:
            if sum(1 for m in self.sent if m["phone"] == phone) >= self.per_number:
                self.refused.append({"code": "isv.BUSINESS_LIMIT_CONTROL", "phone": phone})
                return 200, json.dumps({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发号码天级流控",
                                        "RequestId": uuid.uuid4().hex})
            biz = f"{len(self.sent) + 1:06d}^{uuid.uuid4().hex[:10]}"
            self.sent.append({"phone": phone, "sign_name": params.get("SignName"), "template": params["TemplateCode"],
                              "params": values, "biz_id": biz})
        return 200, json.dumps({"Code": "OK", "Message": "OK", "BizId": biz, "RequestId": uuid.uuid4().hex})
