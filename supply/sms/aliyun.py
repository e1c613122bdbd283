"""Alibaba Cloud SMS (dysmsapi, version 2017-05-25), action SendSms, signed with the RPC signature v1.0.

Sources (read 2026-11-29):
- Signature: https://www.alibabacloud.com/help/en/sms/signature-method (and the RPC "Signature
  mechanism" pages): sort every parameter but Signature by name; percent-encode names and values
  (RFC 3986: unreserved A-Z a-z 0-9 - _ . ~ kept, space as %20, UTF-8); join as name=value with &;
  StringToSign = HTTPMethod + "&" + percentEncode("/") + "&" + percentEncode(canonicalized query);
  Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
- SendSms: https://help.aliyun.com/document_detail/55284.html: PhoneNumbers, SignName, TemplateCode,
  TemplateParam (a JSON string); the answer {"Code": "OK", "Message", "BizId", "RequestId"}.
- Error codes: https://help.aliyun.com/document_detail/101347.htm: isv.MOBILE_NUMBER_ILLEGAL,
  isv.BUSINESS_LIMIT_CONTROL (per-number flow control), isv.DAY_LIMIT_CONTROL, ...
Assumption: the request is a POST with the parameters form-encoded in the body (the documents show
GET with a query string; both are accepted and the method is part of StringToSign).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timezone
from urllib.parse import quote

import requests

from supply.sms import SmsConfig, SmsGateway, SmsResult

VERSION = "2017-05-25"
RATE_LIMIT_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL"}
INVALID_NUMBER_CODES = {"isv.MOBILE_NUMBER_ILLEGAL"}


def percent_encode(value: str) -> str:
    return quote(str(value), safe="-_.~")


def sign(params: dict[str, str], secret: str, method: str = "POST") -> str:
    """The RPC v1.0 signature of these parameters (without Signature)."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSms(SmsGateway):
    name = "aliyun"

    def __init__(self, config: SmsConfig, session: requests.Session | None = None):
        self.config = config
        self.http = session or requests.Session()

    def request_params(self, phone: str, template_id: str, params: dict[str, str], *,
                       now: datetime | None = None, nonce: str | None = None) -> dict[str, str]:
        now = now or datetime.now(timezone.utc)
        body = {
            "AccessKeyId": self.config.key_id, "Action": "SendSms", "Format": "JSON",
            "PhoneNumbers": phone, "RegionId": self.config.region or "cn-hangzhou",
            "SignName": self.config.sign_name, "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce or uuid.uuid4().hex, "SignatureVersion": "1.0",
            "TemplateCode": template_id, "TemplateParam": json.dumps(params, ensure_ascii=False),
            "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": VERSION,
        }
        body["Signature"] = sign(body, self.config.key_secret)
        return body

    def send(self, phone: str, template_id: str, params: dict[str, str]) -> SmsResult:
        try:
            response = self.http.post(self.config.base_url.rstrip("/") + "/", data=self.request_params(
                phone, template_id, params), timeout=self.config.timeout_s)
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            return SmsResult(ok=False, code="unreachable", message=str(exc)[:300])
        code = answer.get("Code")
        if code == "OK":
            return SmsResult(ok=True, provider_ref=answer.get("BizId"), code=code)
        return SmsResult(ok=False, code=code, message=answer.get("Message"), rate_limited=code in RATE_LIMIT_CODES,
                         invalid_number=code in INVALID_NUMBER_CODES)
