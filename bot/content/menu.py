"""The official account's custom menu, defined in content/replies.toml (``[[wechat_menu]]``),
checked against WeChat's rules and turned into the JSON of ``menu/create``.

WeChat's rules (createCustomMenu,
https://developers.weixin.qq.com/doc/subscription/api/custommenu/api_createcustommenu.html):
1-3 buttons, each with 1-5 sub-buttons; a button's name at most 16 bytes, a sub-button's at most
60; a CLICK key at most 128 bytes. Every CLICK key must be one the bot answers ([menu_keys]).
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ..errors import ContentError
from .model import Problems

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
NAME_MAX_BYTES = 16
SUB_NAME_MAX_BYTES = 60
KEY_MAX_BYTES = 128
URL_MAX_BYTES = 1024


def _line_of(text: str, name: str, default: int) -> int:
    """The line where ``name = "<name>"`` is written (1-based), to point at the bad button."""
    m = re.search(rf'name\s*=\s*"{re.escape(name)}"', text) if name else None
    return text[:m.start()].count("\n") + 1 if m else default


def _button(item, where: str, max_bytes: int, keys: dict, text: str, default_line: int,
            path: str, problems: Problems) -> dict | None:
    """One button as WeChat JSON, or None (problems added)."""
    if not isinstance(item, dict):
        problems.add(path, default_line, f"{where} 应当是一个表（name = ..., key = ...）")
        return None
    name = item.get("name")
    line = _line_of(text, name if isinstance(name, str) else "", default_line)
    if not isinstance(name, str) or not name.strip():
        problems.add(path, line, f"{where} 缺少名字（name）")
        return None
    size = len(name.encode("utf-8"))
    if size > max_bytes:
        problems.add(path, line, f"菜单“{name}”的名字有 {size} 字节，最多 {max_bytes} 字节"
                                 f"（约 {max_bytes // 3} 个汉字）")
    unknown = set(item) - {"name", "key", "url", "sub_buttons"}
    for k in sorted(unknown):
        problems.add(path, line, f"菜单“{name}”有不认识的设置“{k}”（可用 name、key、url、sub_buttons）")
    if "key" in item:
        key = item["key"]
        if not isinstance(key, str) or key not in keys:
            problems.add(path, line, f"菜单“{name}”的 key“{key}”不在 [menu_keys] 里"
                                     f"（可用：{'、'.join(keys)}），机器人不会回答它")
        elif len(key.encode()) > KEY_MAX_BYTES:
            problems.add(path, line, f"菜单“{name}”的 key 超过 {KEY_MAX_BYTES} 字节")
        return {"type": "click", "name": name, "key": key}
    if "url" in item:
        url = item["url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) \
                or len(url.encode()) > URL_MAX_BYTES:
            problems.add(path, line, f"菜单“{name}”的 url 应当是 http:// 或 https:// 开头的网址，"
                                     f"最多 {URL_MAX_BYTES} 字节")
        return {"type": "view", "name": name, "url": url}
    return {"name": name}


def build_menu(data, text: str, path: str, keys: dict, problems: Problems) -> dict:
    """``[[wechat_menu]]`` (a list of tables) -> {"button": [...]} for ``menu/create``."""
    start = next((i + 1 for i, ln in enumerate(text.splitlines())
                  if ln.strip() == "[[wechat_menu]]"), 1)
    if not isinstance(data, list) or not data:
        problems.add(path, start, "缺少菜单：写一个或几个 [[wechat_menu]]")
        return {"button": []}
    if len(data) > MAX_BUTTONS:
        problems.add(path, start, f"菜单有 {len(data)} 个一级按钮，微信最多 {MAX_BUTTONS} 个"
                                  f"（多的放进某个按钮的 sub_buttons）")
    buttons = []
    for i, item in enumerate(data, 1):
        button = _button(item, f"第 {i} 个菜单按钮", NAME_MAX_BYTES, keys, text, start, path,
                         problems)
        if button is None:
            continue
        subs = item.get("sub_buttons")
        if subs is None:
            if "type" not in button:
                problems.add(path, _line_of(text, button["name"], start),
                             f"菜单“{button['name']}”要么有 key（点击）或 url（网页），"
                             f"要么有 sub_buttons（子菜单）")
            buttons.append(button)
            continue
        if "type" in button:
            problems.add(path, _line_of(text, button["name"], start),
                         f"菜单“{button['name']}”有子菜单，就不能再有 key 或 url")
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB_BUTTONS:
            problems.add(path, _line_of(text, button["name"], start),
                         f"菜单“{button['name']}”的子菜单要有 1 到 {MAX_SUB_BUTTONS} 个，"
                         f"现在有 {len(subs) if isinstance(subs, list) else 0} 个")
            subs = subs if isinstance(subs, list) else []
        children = []
        for j, sub in enumerate(subs, 1):
            child = _button(sub, f"“{button['name']}”的第 {j} 个子菜单", SUB_NAME_MAX_BYTES,
                            keys, text, start, path, problems)
            if child is None:
                continue
            if "type" not in child:
                problems.add(path, _line_of(text, child["name"], start),
                             f"子菜单“{child['name']}”要有 key（点击）或 url（网页）")
            children.append(child)
        buttons.append({"name": button["name"], "sub_button": children})
    return {"button": buttons}


def load_menu(content_dir: Path) -> dict:
    """The menu of content/replies.toml as ``menu/create`` JSON; ContentError listing every
    problem as ``path:line: message``."""
    path = Path(content_dir) / "replies.toml"
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ContentError([f"{path}:1: {exc}"]) from None
    problems = Problems()
    menu = build_menu(data.get("wechat_menu"), text, str(path), data.get("menu_keys") or {},
                      problems)
    if problems.items:
        raise ContentError(problems.items)
    return menu


def menu_lines(buttons: list[dict]) -> list[str]:
    """A menu (create JSON, or the live one whose sub-buttons come as {"list": [...]}) as
    indented lines for the terminal."""
    lines = []
    for b in buttons:
        subs = b.get("sub_button")
        if isinstance(subs, dict):
            subs = subs.get("list")
        lines.append(_describe(b, ""))
        lines += [_describe(s, "  ") for s in subs or []]
    return lines


def _describe(button: dict, indent: str) -> str:
    kind = button.get("type")
    what = button.get("key") or button.get("url") or button.get("value") or ""
    return f"{indent}{button.get('name', '')}" + (f"  [{kind} {what}]" if kind else "")


def same_menu(live_buttons: list[dict], menu: dict) -> bool:
    """Whether the live menu (get_current_selfmenu_info) is the one in content/."""
    return menu_lines(live_buttons) == menu_lines(menu["button"])
