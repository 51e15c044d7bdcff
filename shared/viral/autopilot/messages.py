"""autopilot-jobs: one autopilot step for one tenant (the schedule fans out one message per tenant)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from viral.wire import CamelModel


class AutopilotJobMessage(CamelModel):
    schema_version: Literal[1] = 1
    tenant_id: uuid.UUID
    scheduled_at: datetime
