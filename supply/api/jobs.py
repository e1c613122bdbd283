from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from supply.api.auth import requires
from supply.api.context import services
from supply.api.util import coop_id
from supply.jobs import STATUSES, get_job

blp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs", description="Background jobs: allocation, planning")


class JobOut(Schema):
    """A background job. Also the body of the 202 answers that start one."""

    id = fields.String(metadata={"description": "job id (UUID)"})
    kind = fields.String(metadata={"description": "what the job does, e.g. allocate, plan"})
    status = fields.String(metadata={"enum": list(STATUSES)})
    progress = fields.Integer(metadata={"description": "percent done, 0 to 100"})
    message = fields.String(allow_none=True, metadata={"description": "what the job is doing now"})
    result = fields.Dict(allow_none=True, metadata={"description": "what a finished job produced"})
    error = fields.Dict(allow_none=True, metadata={"description": "why a failed job failed: {code, message} "
                                                                  "(the traceback is only in the server log)"})
    attempts = fields.Integer(metadata={"description": "times a worker started it (more than 1 after a recovery)"})
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


@blp.route("/<job_id>")
class JobById(MethodView):
    @requires("manager")
    @blp.etag   # polled for progress: 304 while the job has not moved
    @blp.response(200, JobOut)
    def get(self, job_id):
        with services().db.transaction() as session:
            return get_job(session, coop_id(), job_id)
