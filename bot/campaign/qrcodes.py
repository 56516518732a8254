"""A village's parametric QR code for posters: ``qrcode/create`` (permanent string scene,
``QR_LIMIT_STR_SCENE``) through the official account's API client, whose access token is shared
by every process, and a PNG of the code's URL for printing.
"""
from __future__ import annotations

from pathlib import Path


def save_png(url: str, path: Path, scale: int = 10) -> Path:
    """The code's URL as a PNG (segno: pure Python, no image library needed)."""
    import segno

    path.parent.mkdir(parents=True, exist_ok=True)
    segno.make(url, error="m").save(str(path), kind="png", scale=scale, border=4)
    return path


def village_qrcode(settings, api, village_id: str, out: Path | None = None) -> tuple[Path, dict]:
    """Obtain the village's code through ``api`` (``bot.wechat.api_client.OfficialAccountApi``)
    and save it as a poster PNG; the scene is the village id (``qrscene_<id>`` on subscribe)."""
    data = api.create_qrcode(village_id)
    path = out or settings.campaign.qrcode_dir / f"{village_id}.png"
    return save_png(data["url"], Path(path)), data
