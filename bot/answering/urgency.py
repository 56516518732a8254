"""Is the writer already losing money? Detects past loss, handed-over codes and live scams.

This is deliberately separate from the category retrieval: whatever the scam type, a resident who
has already paid, given a verification code or is on the phone with a scammer right now must get
the emergency steps first. The patterns are about what happened (转了/交了/给了验证码/正在转账),
not about scam types, and each can be vetoed by a negation just before it (没转, 还没给, 差点).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百千万几]+)"
_UNIT = r"(?:多|来)?\s*(?:万|千|百|元|块|w|k)"
# An amount: digits (not an official number like 110) with an optional unit, or a Chinese
# numeral that has a unit (两万多, 三千), or a word for money.
_MONEY = (rf"(?:(?!110\b|96110)\d+(?:\.\d+)?\s*(?:{_UNIT})?(?:多|来)?\s*(?:元|块钱|块)?"
          rf"|[一二两三四五六七八九十百千几]+{_UNIT}(?:多|来)?\s*(?:元|块钱|块)?"
          r"|[\u4e00-\u9fff]{0,4}(?:费|款|金|钱))")
_PAY_VERBS = r"(?:转了|转过|转给|转进|转出|转走|汇了|汇过|付了|付过|交了|交过|充了|充值了|打了|打过去|给了|垫了|垫付了|买了|花了|投了|投进去|借给|存了|缴了|扫了|输了|亏了|赔进去)"

# (name, pattern). Names are reported for explanations and tests.
_SIGNALS: list[tuple[str, re.Pattern]] = [
    ("paid_amount", re.compile(rf"{_PAY_VERBS}\s*(?:他|她|对方|人家|骗子|过去|进去|出去)?\s*(?:{_NUM}\s*(?:次|回|笔)?\s*)?{_MONEY}")),
    ("paid_n_times", re.compile(rf"(?:转|交|付|充|汇)了\s*{_NUM}\s*(?:次|回|笔)")),
    ("money_gone", re.compile(r"(?:钱|款|存款|积蓄|余额)(?:都|全|全部|已经|就)?\s*(?:被)?(?:转走|骗走|没了|划走|扣走|取走|被骗|要不回|追不回|拿不回)")),
    ("was_scammed", re.compile(r"(?:被骗了|被骗走|上当了|受骗了|被人骗了|被他骗了|被她骗了|被坑了|遭遇诈骗|被诈骗|骗了我|把我骗了|骗走了|骗了\d|骗了[一二两三四五六七八九十几]+)")),
    ("recover_money", re.compile(r"(?:钱|款)?(?:能|可以|怎么|如何|还能)?(?:要回来|追回|退回来|拿回来|找回来|要得回|追得回)")),
    ("gave_code", re.compile(r"(?:验证码|密码|短信码|动态码|付款码|银行卡号|卡号|身份证号|cvv|安全码)[^，。！？,.!?]{0,8}?(?:给|告诉|发|报|念|说|输|填|提供)(?!错)[^，。！？,.!?]{0,5}了|(?:告诉|给了|发给|报给|念给)了?(?:他|她|对方|客服|人家|骗子)?(?:验证码|密码)|(?:输了|输入了|填了|填写了)(?:银行卡|卡号|密码|验证码)")),
    ("shared_screen", re.compile(r"(?:开了|打开了|点了|开着|正在)\s*(?:屏幕共享|共享屏幕)|(?:下载|装|安装)了.{0,8}(?:会议|app|软件|APP).{0,10}(?:共享|远程|操作)")),
    ("happening_now", re.compile(r"(?:正在|现在|此刻|这会儿|马上就要|还在)(?:跟|和|同)?.{0,6}(?:转账|打钱|汇款|付款|通话|视频|共享|操作|让我转|要我转|叫我转|被骗)|(?:还要我|又要我|还让我|又让我|现在要我|现在让我|一直让我|还要再|又要再)(?:转|交|付|汇|充|打钱)")),
    ("ransom", re.compile(r"(?:赎金|赎人|被扣押|被扣住|被关起来|被控制|回不来)")),
]

_NEGATION = re.compile(r"(?:(?:没有?|没敢|未|不|别|还没|还未|差点|差一点|险些|幸好|幸亏|好在|不要|不能|不会|会不会|是不是|要不要|能不能|没能|如果|万一|假如|要是|怎样防止|怎么防)(?:就|都|也)?(?:把|将)?\s*$)")


@dataclass(frozen=True)
class Urgency:
    urgent: bool
    signals: tuple[str, ...]


# Hearsay about someone else ("同事说他花了五千…") is a question, not an emergency of the writer's.
_HEARSAY = re.compile(r"(?:同事|朋友|邻居|同学|别人|听说|新闻|网上|有人)[^，。！？,.!?]{0,6}说")
_CLAUSE_BREAK = re.compile(r"[，。！？,.!?；;]")


def _negated(text: str, start: int) -> bool:
    """A negation or hypothetical just before a match cancels it."""
    window = text[max(0, start - 6):start]
    return bool(_NEGATION.search(window))


def _about_someone_else(text: str, start: int) -> bool:
    """Reported speech about a third person, with no 'I' or family member in the clause."""
    if not _HEARSAY.search(text[:start]):
        return False
    clause = _CLAUSE_BREAK.split(text[:start])[-1]
    return bool(re.search(r"[他她]", clause)) and not re.search(r"我|家|妈|爸|爷|奶|孩子|儿|女", clause)


def detect_urgency(normalized: str) -> Urgency:
    """Find the signals of an ongoing or completed loss in normalised text."""
    found = []
    for name, pattern in _SIGNALS:
        for m in pattern.finditer(normalized):
            if not _negated(normalized, m.start()) and \
                    not _about_someone_else(normalized, m.start()):
                found.append(name)
                break
    return Urgency(bool(found), tuple(found))
