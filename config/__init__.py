"""Settings read from environment variables, with embedded defaults.

Read once at an edge (app factory, worker, CLI, migrations) and passed down; nothing here connects.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATA_DIR = Path(os.environ.get("COOP_DATA_DIR", Path.home() / ".local" / "share" / "coop"))


# The platforms' open API gateways (Douyin shop: minibear2021/doudian core.py; Kuaishou shop:
# crywolfx/kuaishou-merchant-open-api packages/main.ts; Youzan: youzan/open-sdk-node lib/config/http.js).
PLATFORM_API_URLS = {
    "douyin": "https://openapi-fxg.jinritemai.com",
    "kuaishou": "https://openapi.kwaixiaodian.com",
    "youzan": "https://open.youzanyun.com",
}


def _default_database_url() -> str:
    return f"sqlite:///{DEFAULT_DATA_DIR / 'coop.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=_default_database_url)
    # None means jobs run inline in the calling process (no Redis needed).
    redis_url: str | None = None
    # platform name -> webhook secret: a string, or an object for platforms whose signature needs
    # several parts (app key and secret, client id and secret, message key)
    platform_secrets: dict[str, str | dict[str, str]] = field(default_factory=dict)
    max_body_bytes: int = 2 * 1024 * 1024
    # Farms farther than this from any road node are refused (metres).
    max_snap_distance_m: int = 5_000
    rq_queue: str = "coop"
    log_level: str = "INFO"
    # Road network used for snapping and routing: an .osm.pbf extract, a saved network, or empty for
    # the bundled sample county.
    road_network: str = ""
    # Rate limits, as flask-limiter limit strings ("100 per second", "10/second; 1000/hour"); "0" or an
    # empty string turns a limit off. Counted in Redis when redis_url is set, in process memory otherwise.
    # Signed pushes, per platform and sending address. A platform pushes from a few servers and
    # DESIGN.md plans for thousands of events a minute in all: 100 pushes a second from one server is
    # 6,000 a minute, several times the planned spike from a single address, while still stopping a
    # runaway sender. A refused push is retried by the platform, so too low a figure delays, never loses.
    rate_limit_webhooks: str = "100 per second"
    # Requests that fail authentication (401), per client address. Once an address is over, its
    # requests (but pushes and /healthz) get 429 until the window ends, before any token is checked.
    # One a second is far more than a person retyping a token; a valid token is never counted.
    rate_limit_unauthenticated: str = "60 per minute"
    # Namespace of the counters in Redis, for deployments (or test runs) sharing one Redis.
    rate_limit_key_prefix: str = "coop"
    # Reverse proxies in front of the service that each append the address they received from to
    # X-Forwarded-For (and the scheme to X-Forwarded-Proto). 0: the connecting peer is the client and
    # those headers are ignored, since anyone can send them. Behind one proxy, every client would
    # otherwise share the proxy's address, and its rate limits.
    trusted_proxies: int = 0
    # One JSON line per request on stderr (time, request id, method, route, status, duration, role,
    # cooperative). Never a path, query string, header or body.
    access_log: bool = True
    # Platform open APIs (order detail, listing stock, shipping): platform name -> base URL (the
    # public gateways are in PLATFORM_API_URLS; a test or the demo points them at local stand-ins).
    # None configured: no platform is called, and pushes without lines wait for a manager.
    platform_api_urls: dict[str, str] = field(default_factory=dict)
    # Fernet key (32 url-safe base64 bytes) that encrypts stored platform credentials and shop tokens.
    credentials_key: str | None = None
    # Seconds to wait for a platform's answer before the call counts as failed (and is retried).
    platform_api_timeout_s: float = 3.0
    # The SMS gateway for notices to farms (supply.sms.SmsConfig): {} sends none, notices are written
    # out as slips and a call list instead.
    sms: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        env = dict(os.environ if env is None else env)
        kwargs: dict = {}
        if env.get("DATABASE_URL"):
            kwargs["database_url"] = env["DATABASE_URL"]
        if env.get("REDIS_URL"):
            kwargs["redis_url"] = env["REDIS_URL"]
        if env.get("COOP_PLATFORM_SECRETS"):
            secrets = json.loads(env["COOP_PLATFORM_SECRETS"])
            if not isinstance(secrets, dict) or not all(
                isinstance(k, str) and isinstance(v, (str, dict)) for k, v in secrets.items()
            ):
                raise ValueError("COOP_PLATFORM_SECRETS must be a JSON object of platform name to secret")
            kwargs["platform_secrets"] = secrets
        if env.get("COOP_MAX_BODY_BYTES"):
            kwargs["max_body_bytes"] = int(env["COOP_MAX_BODY_BYTES"])
        if env.get("COOP_MAX_SNAP_DISTANCE_M"):
            kwargs["max_snap_distance_m"] = int(env["COOP_MAX_SNAP_DISTANCE_M"])
        if env.get("COOP_RQ_QUEUE"):
            kwargs["rq_queue"] = env["COOP_RQ_QUEUE"]
        if env.get("COOP_LOG_LEVEL"):
            kwargs["log_level"] = env["COOP_LOG_LEVEL"]
        if env.get("COOP_ROAD_NETWORK"):
            kwargs["road_network"] = env["COOP_ROAD_NETWORK"]
        # Set but empty means "no limit", so presence is what counts here.
        if "COOP_RATE_LIMIT_WEBHOOKS" in env:
            kwargs["rate_limit_webhooks"] = env["COOP_RATE_LIMIT_WEBHOOKS"].strip()
        if "COOP_RATE_LIMIT_UNAUTHENTICATED" in env:
            kwargs["rate_limit_unauthenticated"] = env["COOP_RATE_LIMIT_UNAUTHENTICATED"].strip()
        if env.get("COOP_RATE_LIMIT_KEY_PREFIX"):
            kwargs["rate_limit_key_prefix"] = env["COOP_RATE_LIMIT_KEY_PREFIX"]
        if env.get("COOP_TRUSTED_PROXIES", "").strip():
            value = env["COOP_TRUSTED_PROXIES"].strip()
            if not value.isdigit():
                raise ValueError(f"COOP_TRUSTED_PROXIES must be a whole number of proxies (0 or more), not {value!r}")
            kwargs["trusted_proxies"] = int(value)
        if env.get("COOP_ACCESS_LOG", "").strip():
            kwargs["access_log"] = env["COOP_ACCESS_LOG"].strip().lower() not in ("0", "false", "no", "off")
        if env.get("COOP_PLATFORM_API_URLS"):
            urls = json.loads(env["COOP_PLATFORM_API_URLS"])
            if not isinstance(urls, dict) or not all(isinstance(v, str) for v in urls.values()):
                raise ValueError("COOP_PLATFORM_API_URLS must be a JSON object of platform name to base URL")
            kwargs["platform_api_urls"] = urls
        if env.get("COOP_CREDENTIALS_KEY"):
            kwargs["credentials_key"] = env["COOP_CREDENTIALS_KEY"].strip()
        if env.get("COOP_PLATFORM_API_TIMEOUT_S"):
            kwargs["platform_api_timeout_s"] = float(env["COOP_PLATFORM_API_TIMEOUT_S"])
        if env.get("COOP_SMS", "").strip():
            from supply.sms import SmsConfig

            sms = json.loads(env["COOP_SMS"])
            if not isinstance(sms, dict):
                raise ValueError("COOP_SMS must be a JSON object (gateway, base_url, key_id, key_secret, ...)")
            SmsConfig.from_dict(sms)  # refuses an incomplete one at start, not at the first notice
            kwargs["sms"] = sms
        kwargs.update(overrides)
        return cls(**kwargs)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def __repr__(self) -> str:  # never print secrets
        return (
            f"Settings(database_url={_redact(self.database_url)!r}, redis_url={_redact(self.redis_url)!r}, "
            f"platforms={sorted(self.platform_secrets)!r})"
        )


def _redact(url: str | None) -> str | None:
    if not url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
