"""The bot's fixed texts from content/replies.toml: welcome, menu, emergency steps (money already
lost, or a scam in progress), media, and
which article each menu button opens. Validated like the articles."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ContentError
from .model import Problems, check_safe_text


@dataclass(frozen=True)
class Replies:
    """The bot's fixed texts (content/replies.toml)."""
    emergency_steps: str
    menu: str
    welcome: str
    media: str
    menu_keys: dict
    menu_articles: dict
    in_progress_steps: str   # first lines when a scam is happening right now

    @classmethod
    def load(cls, content_dir: Path) -> "Replies":
        path = content_dir / "replies.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ContentError([f"{path}:1: {exc}"]) from None
        problems = Problems()
        for key in ("emergency_steps", "in_progress_steps", "menu", "welcome", "media",
                    "menu_keys", "menu_articles"):
            if not data.get(key):
                problems.add(str(path), 1, f"缺少“{key}”")
        check_safe_text(path.read_text(encoding="utf-8"), str(path), 1, problems)
        for key, case_id in (data.get("menu_articles") or {}).items():
            if key not in (data.get("menu_keys") or {}):
                problems.add(str(path), 1, f"menu_articles.{key}：不是 [menu_keys] 里的按钮")
            elif not (content_dir / "cases" / f"{case_id}.md").exists():
                problems.add(str(path), 1, f"menu_articles.{key}：没有案例“{case_id}”")
        if problems.items:
            raise ContentError(problems.items)
        return cls(**{k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()
                      if k in cls.__dataclass_fields__})
