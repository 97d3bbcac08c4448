"""camera.status.v1 events: one per state change, one per alarm raised or cleared."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bk_gateway.state import Alarm, State
from bk_gateway.worker import CameraWorker
from bkcore.bus.base import new_meta
from bkproto.events.v1 import camera_status_pb2 as ev

TOPIC = "camera.status.v1"
_STATES = {
    State.CONNECTING: ev.CAMERA_STATE_CONNECTING,
    State.ONLINE: ev.CAMERA_STATE_ONLINE,
    State.DEGRADED: ev.CAMERA_STATE_DEGRADED,
    State.OFFLINE: ev.CAMERA_STATE_OFFLINE,
    State.DISABLED: ev.CAMERA_STATE_DISABLED,
}
_ALARMS = {
    Alarm.OFFLINE: ev.CAMERA_ALARM_OFFLINE,
    Alarm.FROZEN: ev.CAMERA_ALARM_FROZEN,
    Alarm.COVERED: ev.CAMERA_ALARM_COVERED,
    Alarm.PROFILE_REFUSED: ev.CAMERA_ALARM_PROFILE_REFUSED,
}


def wall_time(monotonic_t: float) -> datetime:
    """Workers keep monotonic times (immune to clock jumps); events carry wall-clock UTC."""
    return datetime.now(UTC) - timedelta(seconds=time.monotonic() - monotonic_t)


def status_event(
    worker: CameraWorker,
    *,
    gateway_id: str,
    state: State,
    previous: State,
    reason: str,
    since: float,
    alarm: Alarm | None = None,
    alarm_active: bool = False,
) -> ev.CameraStatusChanged:
    spec, stats = worker.spec, worker.stats
    msg = ev.CameraStatusChanged(
        meta=new_meta(tenant_id=spec.tenant_id, key=spec.id, producer="stream-gateway"),
        site_id=spec.site_id,
        camera_id=spec.id,
        zone=spec.zone,
        state=_STATES[state],
        previous_state=_STATES[previous],
        alarm=_ALARMS[alarm] if alarm else ev.CAMERA_ALARM_NONE,
        alarm_active=alarm_active,
        reason=reason,
        fps=stats.fps,
        codec=stats.codec,
        width=stats.width,
        height=stats.height,
        reconnects=stats.reconnects,
        gateway_id=gateway_id,
    )
    msg.since.FromDatetime(wall_time(since))
    return msg
