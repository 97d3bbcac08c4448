"""Signed play routes of the embedded live view: ``/v1/live/{tenant_id}/{camera_id}/...``.

No bearer token here (players cannot send one): each URL carries ``?exp=&sig=`` over its own path
(``signing.PlaySigner``); a missing, wrong or expired signature is a 403. The playlist is rewritten
so every segment URI carries its own signature with the playlist's expiry. The tenant is part of
the signed path: camera ids are unique per tenant only, so a URL names one tenant's camera.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse

from bk_gateway.deps import get_svc
from bk_gateway.liveview.embedded import PLAYLIST, SEGMENT_RE
from bk_gateway.liveview.signing import PlaySigner
from bk_gateway.spec import CameraKey

if TYPE_CHECKING:
    from bk_gateway.liveview.zlm import ZlmLive
    from bk_gateway.service import GatewayService

PREFIX = "/v1/live"
_CAMERA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Hook(NamedTuple):
    """A ZLMediaKit hook call: the media server it came from and the JSON object it sent."""

    zlm: ZlmLive
    body: dict[str, Any]


def play_path(camera: CameraKey, name: str) -> str:
    return f"{PREFIX}/{camera.tenant_id}/{camera.camera_id}/{name}"


def sign_playlist(text: str, camera: CameraKey, exp: int, signer: PlaySigner) -> str:
    out = []
    for line in text.splitlines():
        name = line.strip()
        if name and not name.startswith("#") and SEGMENT_RE.match(name):
            line = f"{name}?{signer.query(play_path(camera, name), exp)}"
        out.append(line)
    return "\n".join(out) + "\n"


router = APIRouter(prefix=PREFIX, tags=["live"])
#: ZLMediaKit's web hooks (``[hook]`` in its config.ini): ``/v1/zlm/hooks/{on_play,...}?token=``;
#: mounted only when ``BK_MEDIA_SERVER=zlmediakit``. ZLMediaKit POSTs JSON and reads ``code`` from a
#: 200 answer. The token in the hook URL proves the caller is our ZLMediaKit (403 otherwise); the play
#: decision itself rests on the URL signature.
zlm_hooks = APIRouter(prefix="/v1/zlm/hooks", tags=["zlmediakit hooks"], include_in_schema=False)
gateway = Depends(get_svc)


def check(
    signer: PlaySigner, tenant_id: str, camera_id: str, name: str, exp: str | None, sig: str | None
) -> tuple[CameraKey, int]:
    camera = CameraKey(tenant_id, camera_id)
    if not (_CAMERA_RE.match(tenant_id) and _CAMERA_RE.match(camera_id)) or not signer.valid(
        play_path(camera, name), exp, sig
    ):
        raise HTTPException(403, "invalid or expired play URL")
    return camera, int(exp or 0)


@router.get(
    "/{tenant_id}/{camera_id}/index.m3u8",
    summary="HLS playlist (signed URL)",
    responses={200: {"content": {"application/vnd.apple.mpegurl": {}}}},
)
async def playlist(
    tenant_id: str,
    camera_id: str,
    exp: str | None = Query(None),
    sig: str | None = Query(None),
    svc: GatewayService = gateway,
) -> Response:
    camera, exp_i = check(svc.signer, tenant_id, camera_id, PLAYLIST, exp, sig)
    text = svc.embedded_live.playlist(camera)
    if text is None:
        raise HTTPException(404, "no live session for this camera: ask POST /v1/cameras/{id}/live again")
    if not text:
        raise HTTPException(503, "live stream starting", headers={"Retry-After": "1"})
    return Response(
        sign_playlist(text, camera, exp_i, svc.signer),
        media_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/{tenant_id}/{camera_id}/snapshot.jpg",
    summary="Latest frame (signed URL)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def snapshot(
    tenant_id: str,
    camera_id: str,
    exp: str | None = Query(None),
    sig: str | None = Query(None),
    svc: GatewayService = gateway,
) -> Response:
    camera, _ = check(svc.signer, tenant_id, camera_id, "snapshot.jpg", exp, sig)
    jpeg = await svc.snapshot(camera)
    if jpeg is None:
        raise HTTPException(404, "no frame yet from this camera on this gateway")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/{tenant_id}/{camera_id}/{segment}",
    summary="HLS segment (signed URL)",
    responses={200: {"content": {"video/mp2t": {}}}},
)
async def segment(
    tenant_id: str,
    camera_id: str,
    segment: str,
    exp: str | None = Query(None),
    sig: str | None = Query(None),
    svc: GatewayService = gateway,
) -> Response:
    if not SEGMENT_RE.match(segment):
        raise HTTPException(404, "not found")
    camera, _ = check(svc.signer, tenant_id, camera_id, segment, exp, sig)
    path = svc.embedded_live.segment(camera, segment)
    if path is None:
        raise HTTPException(404, "segment gone (live playlists roll) or no live session")
    return FileResponse(path, media_type="video/mp2t", headers={"Cache-Control": "no-store"})


async def hook_body(request: Request, token: str | None = Query(None), svc: GatewayService = gateway) -> Hook:
    """The hook's JSON body ({} when it is not an object), after the token check."""
    zlm = svc.zlm_live
    if zlm is None:
        raise HTTPException(404, "BK_MEDIA_SERVER is not zlmediakit")
    if not zlm.check_hook_token(token):
        raise HTTPException(403, "bad hook token")
    try:
        body = await request.json()
    except ValueError:
        body = {}
    return Hook(zlm, body if isinstance(body, dict) else {})


@zlm_hooks.post("/on_play")
async def on_play(hook: Hook = Depends(hook_body)) -> dict[str, Any]:
    return hook.zlm.on_play(hook.body)


@zlm_hooks.post("/on_stream_none_reader")
async def on_stream_none_reader(hook: Hook = Depends(hook_body)) -> dict[str, Any]:
    return hook.zlm.on_stream_none_reader(hook.body)


@zlm_hooks.post("/on_stream_not_found")
async def on_stream_not_found(
    hook: Hook = Depends(hook_body), svc: GatewayService = gateway
) -> dict[str, Any]:
    camera = CameraKey.from_ref(str(hook.body.get("stream", "")))
    spec = None
    if camera is not None and _CAMERA_RE.match(camera.tenant_id) and _CAMERA_RE.match(camera.camera_id):
        spec = await svc.spec_for(camera)
    return hook.zlm.on_stream_not_found(hook.body, spec)
