"""A local stand-in for Tencent Cloud SMS SendSms (API 3.0, 2021-01-11), written from its documents:

- signature v3, TC3-HMAC-SHA256 (https://www.tencentcloud.com/document/product/382/40468): the
  canonical request over content-type and host, the scope <date>/sms/tc3_request, the key chained
  from "TC3" + SecretKey; X-TC-Timestamp within five minutes (AuthFailure.SignatureExpire).
- SendSms (https://cloud.tencent.com/document/api/382/55981): PhoneNumberSet (+86...), SmsSdkAppId,
  TemplateId, SignName, TemplateParamSet (strings); answers {"Response": {"SendStatusSet": [...],
  "RequestId"}}, each status with SerialNo, PhoneNumber, Fee, Code "Ok", Message.
- error codes (https://cloud.tencent.com/document/api/382/59177) and the default frequency limits
  (https://tencentcloud.com/document/product/382/13303: the same content to one number at most once
  in 30 seconds; a daily cap per number).
Assumptions (marked): the signature is verified independently of the product's code here; a bad
number is reported in its SendStatus (Code InvalidParameterValue.IncorrectPhoneNumber), as a
multi-number request cannot fail as a whole for one number; the daily cap is `per_day`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import datetime, timezone

from tests.fakes.sms_base import FakeGateway


class TencentSmsFake(FakeGateway):
    def __init__(self, secret_id="AKID-test", secret_key="tencent-secret", app_id="1400006666",
                 templates=("2001", "2002", "2003"), per_day: int = 3):
        super().__init__()
        self.secret_id, self.secret_key, self.app_id = secret_id, secret_key, app_id
        self.templates, self.per_day = set(templates), per_day
        self.last: dict[tuple[str, str], float] = {}

    def _error(self, code: str) -> tuple[int, str]:
        with self.lock:
            self.refused.append({"code": code})
        return 200, json.dumps({"Response": {"Error": {"Code": code, "Message": code},
                                             "RequestId": uuid.uuid4().hex}})

    def _expected(self, headers: dict, body: bytes, timestamp: int) -> str:
        host = headers.get("Host", "")
        content_type = headers.get("Content-Type", "")
        canonical = f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n" \
                    f"{hashlib.sha256(body).hexdigest()}"
        day = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
        hashed = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{day}/sms/tc3_request\n{hashed}"

        def mac(key, msg):
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        key = mac(mac(mac(("TC3" + self.secret_key).encode(), day), "sms"), "tc3_request")
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return (f"TC3-HMAC-SHA256 Credential={self.secret_id}/{day}/sms/tc3_request, "
                f"SignedHeaders=content-type;host, Signature={signature}")

    def handle(self, method, path, headers, body):
        try:
            timestamp = int(headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return self._error("MissingParameter")
        if abs(time.time() - timestamp) > 300:
            return self._error("AuthFailure.SignatureExpire")
        if not hmac.compare_digest(headers.get("Authorization", ""), self._expected(headers, body, timestamp)):
            return self._error("AuthFailure.SignatureFailure")
        if (headers.get("X-TC-Action"), headers.get("X-TC-Version")) != ("SendSms", "2021-01-11"):
            return self._error("InvalidAction")
        request = json.loads(body)
        if request.get("SmsSdkAppId") != self.app_id:
            return self._error("InvalidParameterValue.SdkAppIdNotExist")
        if request.get("TemplateId") not in self.templates:
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved")
        params = request.get("TemplateParamSet") or []
        if not all(isinstance(p, str) for p in params):
            return self._error("InvalidParameterValue.TemplateParameterFormatError")
        statuses = []
        now = time.time()
        with self.lock:
            for phone in request.get("PhoneNumberSet") or []:
                status = {"SerialNo": "", "PhoneNumber": phone, "Fee": 0, "SessionContext": "", "IsoCode": "CN"}
                content = json.dumps([request["TemplateId"], params], ensure_ascii=False)
                if not re.fullmatch(r"\+861[3-9]\d{9}", phone):
                    status.update(Code="InvalidParameterValue.IncorrectPhoneNumber", Message="手机号格式错误")
                elif now - self.last.get((phone, content), -1e9) < 30:
                    status.update(Code="LimitExceeded.PhoneNumberThirtySecondLimit", Message="30秒内同内容限频")
                elif sum(1 for m in self.sent if m["phone"] == phone) >= self.per_day:
                    status.update(Code="LimitExceeded.PhoneNumberDailyLimit", Message="单个手机号日下发条数超过上限")
                else:
                    serial = f"2645:{uuid.uuid4().int % 10**20}"
                    status.update(Code="Ok", Message="send success", Fee=1, SerialNo=serial)
                    self.last[(phone, content)] = now
                    self.sent.append({"phone": phone, "sign_name": request.get("SignName"),
                                      "template": request["TemplateId"], "params": params, "serial": serial})
                if status["Code"] != "Ok":
                    self.refused.append({"code": status["Code"], "phone": phone})
                statuses.append(status)
        return 200, json.dumps({"Response": {"SendStatusSet": statuses, "RequestId": uuid.uuid4().hex}},
                               ensure_ascii=False)
