import base64

import pytest

from supply.platforms import (
    DouyinAdapter,
    GenericAdapter,
    KuaishouAdapter,
    PlatformConfigError,
    PlatformEvent,
    UnknownPlatform,
    YouzanAdapter,
    get_adapter,
    load_adapters,
)

SECRETS = {
    "douyin": {"app_key": "7012345678901234567", "app_secret": "dy-secret"},
    "youzan": {"client_id": "yz-client", "client_secret": "yz-secret"},
    "kuaishou": {"app_key": "ks699183844582124027", "message_key": base64.b64encode(b"k" * 16).decode()},
    "generic": "shared-secret",
    "gansu-coop": {"secret": "another"},
}


def test_builds_every_configured_adapter():
    adapters = load_adapters(SECRETS)
    assert isinstance(adapters["douyin"], DouyinAdapter)
    assert isinstance(adapters["youzan"], YouzanAdapter)
    assert isinstance(adapters["kuaishou"], KuaishouAdapter)
    assert isinstance(adapters["generic"], GenericAdapter)
    assert isinstance(adapters["gansu-coop"], GenericAdapter)
    assert {name: a.name for name, a in adapters.items()} == {name: name for name in SECRETS}


def test_a_plain_string_under_a_known_platform_name_speaks_the_generic_format():
    assert isinstance(get_adapter("douyin", "change-me"), GenericAdapter)


def test_an_unknown_platform_with_an_object_is_a_clear_error():
    with pytest.raises(UnknownPlatform, match="pinduoduo"):
        get_adapter("pinduoduo", {"app_key": "x"})
    with pytest.raises(UnknownPlatform):
        get_adapter("douyin", None)


@pytest.mark.parametrize("name, config, missing", [
    ("douyin", {"app_key": "k"}, "app_secret"),
    ("youzan", {"client_secret": "s"}, "client_id"),
    ("kuaishou", {"app_key": "k", "message_key": ""}, "message_key"),
])
def test_missing_keys_are_named(name, config, missing):
    with pytest.raises(PlatformConfigError, match=missing):
        get_adapter(name, config)


def test_a_message_key_that_is_not_an_aes_key_is_refused():
    with pytest.raises(PlatformConfigError):
        get_adapter("kuaishou", {"app_key": "k", "message_key": "not base64!"})
    with pytest.raises(PlatformConfigError):
        get_adapter("kuaishou", {"app_key": "k", "message_key": base64.b64encode(b"short").decode()})


def test_events_are_frozen_and_kinds_are_checked():
    event = PlatformEvent(platform="douyin", message_id="1", kind="paid", external_order_id="P1")
    assert event.needs_order_detail
    with pytest.raises(AttributeError):
        event.kind = "cancelled"
    with pytest.raises(ValueError):
        PlatformEvent(platform="douyin", message_id="1", kind="shipped")
