"""A job kind for the jobs tests: `TEST_HANDLERS`, added to a test's Services
(`services.job_handlers.update(TEST_HANDLERS)`) or to a worker subprocess's
(`run_worker(..., handlers=TEST_HANDLERS)`).

`sleep_and_count` leaves its traces in the directory `params["dir"]`:
- `<job_id>.runs`: one line (the pid) per time the handler started;
- `<job_id>.pid`: the pid of the latest run, so a test can kill it;
- `effects.log`: one line per job whose effect was applied. The effect is keyed by the job id
  (created with O_EXCL), so a job run twice still applies it once: the idempotence handlers promise.
"""
from __future__ import annotations

import os
import time
from pathlib import Path


def sleep_and_count(services, job_id: str, params: dict, progress) -> dict:
    out = Path(params["dir"])
    (out / f"{job_id}.pid").write_text(str(os.getpid()))
    with open(out / f"{job_id}.runs", "a") as runs_file:
        runs_file.write(f"{os.getpid()}\n")
    runs = len((out / f"{job_id}.runs").read_text().split())
    if params.get("fail"):
        raise RuntimeError(params["fail"])
    # only the first run dawdles, so a test can kill it mid-job and see the next run finish quickly
    sleep_s = float(params.get("sleep_s", 0)) if runs == 1 else 0.0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < sleep_s:
        progress(int(90 * elapsed / sleep_s), "counting")
        time.sleep(0.1)
    try:
        fd = os.open(out / f"{job_id}.effect", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pass
    else:
        os.close(fd)
        with open(out / "effects.log", "a") as effects:
            effects.write(f"{job_id}\n")
    progress(100, "counted")
    return {"counted": job_id, "runs": runs}


TEST_HANDLERS = {"sleep_and_count": sleep_and_count}
