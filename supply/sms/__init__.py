"""SMS gateways: one interface, an adapter per gateway Chinese cooperatives use.

Product code knows only a gateway's base URL and credentials from configuration (`COOP_SMS`); tests
run the adapters against local servers (tests/fakes/sms_*.py) that check the signatures as the
gateways document them. Messages are sent through approved templates: the gateway fills a template
registered under an id with our parameters and puts the cooperative's signature (签名) in front.

The templates to register (one per kind of notice) take these parameters: `day`, `eta`, `window`,
`items` for a notice and a correction, `day` for a cancellation; by name on Alibaba Cloud
(`${day}约${eta}来收货（您的时段${window}），请备好${items}。`), in that order on Tencent Cloud ({1} to {4}).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MOBILE = re.compile(r"1[3-9]\d{9}")
SINGLE_SMS_CHARS = 70  # one SMS holds 70 Chinese characters (UCS-2)
PART_SMS_CHARS = 67  # a part of a long SMS holds 67: the rest of its 140 bytes is the concatenation header


def mainland_mobile(phone: str | None) -> str | None:
    """`+86 138 0000 1111`, `0086-13800001111`, `13800001111` -> `13800001111`; None if it is not a
    mainland mobile number (landlines, short numbers, foreign numbers cannot take an SMS here)."""
    if not phone:
        return None
    digits = re.sub(r"[\s\-()]", "", phone)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    return digits if MOBILE.fullmatch(digits) else None


def sms_parts(text: str) -> int:
    """How many SMS a text takes: one up to 70 characters, else 67 per part (as carriers split them)."""
    n = len(text)
    return 1 if n <= SINGLE_SMS_CHARS else -(-n // PART_SMS_CHARS)


@dataclass(frozen=True)
class SmsResult:
    ok: bool
    provider_ref: str | None = None
    code: str | None = None
    message: str | None = None
    rate_limited: bool = False
    invalid_number: bool = False


@dataclass(frozen=True)
class SmsConfig:
    """`COOP_SMS` as a JSON object: gateway (aliyun or tencent), base_url, key_id, key_secret,
    sign_name, templates {notice, correction, cancellation: template id}, and for tencent app_id and
    region. Per-number limits: min_interval_s (default 30) and per_day (default 10)."""

    gateway: str
    base_url: str
    key_id: str
    key_secret: str
    sign_name: str
    templates: dict = field(default_factory=dict)
    app_id: str | None = None
    region: str | None = None
    min_interval_s: int = 30
    per_day: int = 10
    timeout_s: float = 5.0

    @classmethod
    def from_dict(cls, raw: dict | None) -> "SmsConfig | None":
        if not raw or not raw.get("gateway"):
            return None
        if raw["gateway"] not in GATEWAYS:
            raise ValueError(f"COOP_SMS gateway must be one of {', '.join(GATEWAYS)}")
        missing = [k for k in ("base_url", "key_id", "key_secret", "sign_name") if not raw.get(k)]
        if raw["gateway"] == "tencent" and not raw.get("app_id"):
            missing.append("app_id")
        if missing:
            raise ValueError(f"COOP_SMS lacks {', '.join(missing)}")
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)


GATEWAYS = ("aliyun", "tencent")


class SmsGateway:
    """Send one templated SMS to one mainland mobile number."""

    name = "none"

    def send(self, phone: str, template_id: str, params: dict[str, str]) -> SmsResult:  # pragma: no cover
        raise NotImplementedError


def gateway_for(config: SmsConfig | None, session=None) -> SmsGateway | None:
    if config is None:
        return None
    if config.gateway == "aliyun":
        from supply.sms.aliyun import AliyunSms

        return AliyunSms(config, session=session)
    from supply.sms.tencent import TencentSms

    return TencentSms(config, session=session)
