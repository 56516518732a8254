"""Every real message sample from WeRoBot's and wechatpy's test suites, posted as WeChat would.

Each sample keeps its bytes (odd whitespace around CDATA included) except a fresh CreateTime and
a unique MsgId, so it is a first delivery. Whatever it is, the webhook answers 200 with
'success' or a valid text reply addressed back to the sender, in plaintext and in safe mode.
"""
from __future__ import annotations

import itertools
import re
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot import create_app
from bot.config import PROJECT_ROOT
from bot.loop.screenshots import TYPE_IT
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, make_settings
from wechat_client import WeChatSender


SAMPLES = sorted((Path(__file__).parent / "fixtures" / "peer-samples").glob("*.xml"))
CONTENT_DIR = PROJECT_ROOT / "content"
REPLIES = tomllib.loads((CONTENT_DIR / "replies.toml").read_text("utf-8"))
MEDIA_TYPES = {"image", "video", "shortvideo", "location", "link", "file"}

_create_times = itertools.count(int(time.time()) - 10_000)
_msg_ids = itertools.count(int(time.time()) * 1000)
_CREATE_TIME = re.compile(r"(<CreateTime>\s*)\d+(\s*</CreateTime>)")
_MSG_ID = re.compile(r"(<MsgI[dD]>\s*)\d+(\s*</MsgI[dD]>)")


def fresh(sample: str) -> str:
    """The sample as a new push: its own CreateTime (events are keyed by sender + time) and
    MsgId (many samples share 1234567890123456); every other byte unchanged."""
    sample = _CREATE_TIME.sub(lambda m: f"{m[1]}{next(_create_times)}{m[2]}", sample)
    return _MSG_ID.sub(lambda m: f"{m[1]}{next(_msg_ids)}{m[2]}", sample)


def fields_of(xml: str) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() for child in ET.fromstring(xml)}


@pytest.fixture(scope="module")
def sender(tmp_path_factory):
    folder = tmp_path_factory.mktemp("peer-samples")
    app = create_app(make_settings(folder))
    return WeChatSender(app.test_client(), TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)


def test_all_samples_are_here():
    assert len(SAMPLES) == 85


def test_fresh_changes_only_create_time_and_msg_id():
    def blanked(xml):
        return _MSG_ID.sub(r"\1\2", _CREATE_TIME.sub(r"\1\2", xml))

    for path in SAMPLES:
        original = path.read_text("utf-8")
        renewed = fresh(original)
        assert blanked(renewed) == blanked(original) and renewed != original, path.name


@pytest.mark.parametrize("mode", ["plain", "safe"])
@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_sample_gets_success_or_a_reply_to_its_sender(sender, path, mode):
    xml = fresh(path.read_text("utf-8"))
    sample = fields_of(xml)
    response, reply = sender.post(xml, mode=mode)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    if body in ("success", ""):
        assert reply is None
        answered = None
    else:
        assert reply is not None, body  # decrypted, MsgSignature checked, in safe mode
        if mode == "safe":
            assert "<Content>" not in body
        fields = fields_of(reply)
        assert fields["ToUserName"] == sample["FromUserName"]
        assert fields["FromUserName"] == sample["ToUserName"]
        assert fields["MsgType"] == "text"
        assert fields["Content"]
        answered = fields["Content"]

    # Where the kind of message says what the answer must be, check that too.
    msg_type, event = sample["MsgType"], sample.get("Event", "").lower()
    if msg_type == "image":   # screenshots: OCR, or "please type it" (test_loop_screenshots.py)
        assert answered == TYPE_IT
    elif msg_type in MEDIA_TYPES or (msg_type == "voice" and not sample.get("Recognition")):
        assert answered == REPLIES["media"].strip()
    elif msg_type == "event" and event == "subscribe":
        assert answered == REPLIES["welcome"].strip()
    elif msg_type == "event" and event in ("unsubscribe", "templatesendjobfinish",
                                           "masssendjobfinish", "view", "location"):
        assert answered is None
    elif msg_type in ("text", "voice"):
        assert answered
