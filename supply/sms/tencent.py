"""Tencent Cloud SMS (API 3.0, version 2021-01-11), action SendSms, signed with TC3-HMAC-SHA256.

Sources (read 2026-11-29):
- Signature v3: https://www.tencentcloud.com/document/product/382/40468 (and the common parameters,
  https://www.tencentcloud.com/document/product/382/40466): CanonicalRequest = method \n uri (/) \n
  query ('' for POST) \n "content-type:<ct>\nhost:<host>\n" \n "content-type;host" \n
  hex(SHA256(payload)); StringToSign = "TC3-HMAC-SHA256" \n timestamp \n "<date>/sms/tc3_request" \n
  hex(SHA256(CanonicalRequest)); the key is HMAC chained from "TC3" + SecretKey over the UTC date,
  "sms" and "tc3_request"; Authorization = "TC3-HMAC-SHA256 Credential=<SecretId>/<scope>,
  SignedHeaders=content-type;host, Signature=<hex>"; headers X-TC-Action, X-TC-Version,
  X-TC-Timestamp, X-TC-Region.
- SendSms: https://cloud.tencent.com/document/api/382/55981: PhoneNumberSet (E.164, +86...),
  SmsSdkAppId, TemplateId, SignName, TemplateParamSet (an array of strings, the template's {1}, {2},
  ... in order); the answer {"Response": {"SendStatusSet": [{"SerialNo", "PhoneNumber", "Code": "Ok",
  "Message", ...}], "RequestId"}} or {"Response": {"Error": {"Code", "Message"}, "RequestId"}}.
- Error codes: https://cloud.tencent.com/document/api/382/59177: LimitExceeded.DeliveryFrequencyLimit,
  LimitExceeded.PhoneNumberDailyLimit, InvalidParameterValue.IncorrectPhoneNumber, ...
Assumption: the host signed is the base URL's host (sms.tencentcloudapi.com in production).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import urlsplit

import requests

from supply.sms import SmsConfig, SmsGateway, SmsResult

VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
INVALID_NUMBER_CODES = {"InvalidParameterValue.IncorrectPhoneNumber"}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def authorization(secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int) -> str:
    day = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
    canonical = "\n".join(["POST", "/", "", f"content-type:{CONTENT_TYPE}\nhost:{host}\n", "content-type;host",
                           hashlib.sha256(payload).hexdigest()])
    scope = f"{day}/sms/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), "sms"), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, "
            f"Signature={signature}")


class TencentSms(SmsGateway):
    name = "tencent"

    def __init__(self, config: SmsConfig, session: requests.Session | None = None):
        self.config = config
        self.http = session or requests.Session()
        self.host = urlsplit(config.base_url).netloc

    def request(self, phone: str, template_id: str, params: dict[str, str], *,
                timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        timestamp = timestamp or int(datetime.now(timezone.utc).timestamp())
        payload = json.dumps({"PhoneNumberSet": [f"+86{phone}"], "SmsSdkAppId": self.config.app_id,
                              "SignName": self.config.sign_name, "TemplateId": template_id,
                              "TemplateParamSet": [str(v) for v in params.values()]},
                             ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": CONTENT_TYPE, "Host": self.host, "X-TC-Action": "SendSms",
                   "X-TC-Version": VERSION, "X-TC-Timestamp": str(timestamp),
                   "X-TC-Region": self.config.region or "ap-guangzhou",
                   "Authorization": authorization(self.config.key_id, self.config.key_secret, self.host, payload,
                                                  timestamp)}
        return payload, headers

    def send(self, phone: str, template_id: str, params: dict[str, str]) -> SmsResult:
        payload, headers = self.request(phone, template_id, params)
        try:
            response = self.http.post(self.config.base_url.rstrip("/") + "/", data=payload, headers=headers,
                                      timeout=self.config.timeout_s)
            answer = response.json().get("Response", {})
        except (requests.RequestException, ValueError, AttributeError) as exc:
            return SmsResult(ok=False, code="unreachable", message=str(exc)[:300])
        if "Error" in answer:
            code = answer["Error"].get("Code")
            return SmsResult(ok=False, code=code, message=answer["Error"].get("Message"),
                             rate_limited=str(code).startswith(("LimitExceeded", "RequestLimitExceeded")),
                             invalid_number=code in INVALID_NUMBER_CODES)
        status = (answer.get("SendStatusSet") or [{}])[0]
        code = status.get("Code")
        if code == "Ok":
            return SmsResult(ok=True, provider_ref=status.get("SerialNo"), code=code)
        return SmsResult(ok=False, code=code, message=status.get("Message"),
                         rate_limited=str(code).startswith("LimitExceeded"),
                         invalid_number=code in INVALID_NUMBER_CODES)
