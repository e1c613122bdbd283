"""Notices sent by a real `coop worker` on Redis, through the Alibaba Cloud stand-in: the worker knows
the job kind and reads the gateway from COOP_SMS."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from config import Settings
from tests.conftest import REDIS_URL, ROOT, require_service
from tests.fakes.sms_aliyun import AliyunSmsFake
from tests.farmside import DAY, build
from tests.service.test_farm_notices import ALIYUN


def test_a_worker_sends_the_days_notices_through_the_gateway(client, manager, db, tokens, database_url, tmp_path):
    require_service(bool(REDIS_URL), "Redis")
    from supply.app import create_app
    from supply.wiring import build_services

    build(client, manager, db, tokens)
    queue = f"farms-{uuid.uuid4().hex[:8]}"
    with AliyunSmsFake() as fake:
        sms = {**ALIYUN, "base_url": fake.base_url}
        settings = Settings(database_url=database_url, redis_url=REDIS_URL, rq_queue=queue, sms=sms)
        app = create_app(settings, services=build_services(settings, db=db))
        env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=REDIS_URL, COOP_RQ_QUEUE=queue,
                   COOP_SMS=json.dumps(sms), COOP_LOG_LEVEL="WARNING")
        log = open(tmp_path / "worker.log", "w")
        worker = subprocess.Popen([sys.executable, "-m", "supply.cli", "worker", "--sweep-interval", "2"], cwd=ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            http = app.test_client()
            accepted = http.post("/api/v1/notices", json={"date": DAY.isoformat()}, headers=manager)
            assert accepted.status_code == 202, accepted.get_json()
            deadline = time.monotonic() + 90
            job = accepted.get_json()
            while job["status"] not in ("finished", "failed") and time.monotonic() < deadline:
                time.sleep(0.3)
                job = http.get(accepted.headers["Location"], headers=manager).get_json()
            assert job["status"] == "finished", (job, (tmp_path / "worker.log").read_text()[-2000:])
            assert job["result"]["by_status"] == {"sent": 2, "invalid_number": 1}
            assert sorted(m["phone"] for m in fake.sent) == ["13800001111", "13900002222"]
        finally:
            worker.terminate()
            worker.wait(10)
            log.close()
