"""Local HTTP stand-ins for the platforms' open APIs. They live in `supply.platforms.sandbox` so that
`coop demo` can start them too; tests import them from here."""
from supply.platforms.sandbox import (  # noqa: F401
    SANDBOXES, DouyinSandbox, KuaishouSandbox, YouzanSandbox, douyin_push, kuaishou_push_body,
)
