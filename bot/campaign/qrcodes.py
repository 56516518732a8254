"""A village's parametric QR code for posters: the official account's ``qrcode/create``
(permanent string scene, ``QR_LIMIT_STR_SCENE``) and a PNG of the code's URL.

A minimal client, kept apart so the shared official-account API client (access token shared by
every process) can replace ``fetch_access_token`` and ``create_scene_qrcode`` later. Every
request has a timeout; the base URL is ``campaign.api_base_url`` (tests: a local fake).
Tencent's pages: 生成带参数的二维码 (/cgi-bin/qrcode/create) and 获取 Access token (/cgi-bin/token).
"""
from __future__ import annotations

from pathlib import Path

import requests

from ..errors import BotError

TIMEOUT = 10


class ApiError(BotError):
    """The official-account API answered with an error code (or not at all)."""

    status = 502

    def __init__(self, message: str, errcode: int | None = None):
        super().__init__(message)
        self.errcode = errcode


def _call(method: str, url: str, **kwargs) -> dict:
    try:
        response = requests.request(method, url, timeout=TIMEOUT, **kwargs)
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ApiError(f"微信接口无法访问：{type(exc).__name__}") from None
    if data.get("errcode"):
        raise ApiError(f"微信接口返回错误 {data['errcode']}：{data.get('errmsg', '')}",
                       data["errcode"])
    return data


def fetch_access_token(base_url: str, app_id: str, app_secret: str) -> str:
    if not app_secret:
        raise ApiError("没有配置 wechat.app_secret（环境变量 WECHAT_APP_SECRET），无法调用微信接口")
    data = _call("GET", f"{base_url.rstrip('/')}/cgi-bin/token",
                 params={"grant_type": "client_credential", "appid": app_id,
                         "secret": app_secret})
    return data["access_token"]


def create_scene_qrcode(base_url: str, access_token: str, scene: str) -> dict:
    """{'ticket', 'url'} of a permanent QR code whose scene is ``scene`` (1-64 characters)."""
    data = _call("POST", f"{base_url.rstrip('/')}/cgi-bin/qrcode/create",
                 params={"access_token": access_token},
                 json={"action_name": "QR_LIMIT_STR_SCENE",
                       "action_info": {"scene": {"scene_str": scene}}})
    if not data.get("url"):
        raise ApiError("微信接口没有返回二维码地址")
    return data


def save_png(url: str, path: Path, scale: int = 10) -> Path:
    """The code's URL as a PNG (segno: pure Python, no image library needed)."""
    import segno

    path.parent.mkdir(parents=True, exist_ok=True)
    segno.make(url, error="m").save(str(path), kind="png", scale=scale, border=4)
    return path


def village_qrcode(settings, village_id: str, out: Path | None = None) -> tuple[Path, dict]:
    """Obtain the village's code through the API and save it as a poster PNG."""
    token = fetch_access_token(settings.campaign.api_base_url, settings.wechat.app_id,
                               settings.wechat.app_secret)
    data = create_scene_qrcode(settings.campaign.api_base_url, token, village_id)
    path = out or settings.campaign.qrcode_dir / f"{village_id}.png"
    return save_png(data["url"], Path(path)), data
