"""Links, phone numbers, bank-card-like numbers, QQ/WeChat ids and app names in a message, and
what is known about them. Pure functions: no storage, no network look-ups.

Each indicator has a ``kind``, a normalised ``value`` (what reports are grouped by), a ``key``
(a hash of both, what logs and counters may show) and a ``masked`` form for replies.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

KINDS = {"link": "链接", "phone": "电话", "card": "银行卡号", "qq": "QQ号", "wechat": "微信号",
         "app": "APP"}

# Official domains (a suffix match: anything under gov.cn is official) and the names of the
# organisations behind them, for the look-alike check. Admins add more in the watchlist.
OFFICIAL_DOMAINS = {
    "gov.cn": "政府网站", "icbc.com.cn": "工商银行", "ccb.com": "建设银行",
    "abchina.com": "农业银行", "boc.cn": "中国银行", "bankcomm.com": "交通银行",
    "cmbchina.com": "招商银行", "psbc.com": "邮储银行", "10086.cn": "中国移动",
    "chinaunicom.com": "中国联通", "189.cn": "中国电信", "alipay.com": "支付宝",
    "qq.com": "腾讯", "12306.cn": "铁路12306", "chsi.com.cn": "学信网",
    "12321.cn": "12321举报中心", "chinatax.gov.cn": "国家税务总局",
}
OFFICIAL_NUMBERS = {
    "110": "报警电话", "96110": "反诈预警专线", "12321": "网络不良与垃圾信息举报",
    "12381": "涉诈预警劝阻专线", "95588": "工商银行客服", "95533": "建设银行客服",
    "95599": "农业银行客服", "95566": "中国银行客服", "95559": "交通银行客服",
    "95555": "招商银行客服", "95580": "邮储银行客服", "10086": "中国移动客服",
    "10010": "中国联通客服", "10000": "中国电信客服", "95188": "支付宝客服",
    "95017": "微信支付客服", "12306": "铁路客服", "12345": "政务服务热线",
}
_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                       "9": "g", "i": "l", "|": "l"})
_TLDS = ("com|cn|net|org|cc|top|xyz|vip|info|club|shop|site|online|icu|me|io|co|tk|ml|app|"
         "work|link|live|fun|ltd|hk|tw|xin|wang|ren|pro|biz|asia")
_URL_RE = re.compile(r"(?:https?://|www\.)[A-Za-z0-9._~:/?#@!$&*+,;=%-]+", re.I)
_DOMAIN_RE = re.compile(
    rf"(?<![A-Za-z0-9.@_-])((?:xn--)?[a-z0-9][a-z0-9-]{{0,62}}(?:\.(?:xn--)?[a-z0-9][a-z0-9-]{{0,62}})*"
    rf"\.(?:{_TLDS}))(?![A-Za-z0-9_-])(/[A-Za-z0-9._~:/?#@!$&*+,;=%-]*)?", re.I)
_MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?!\d)")
_LANDLINE_RE = re.compile(r"(?<!\d)(0\d{2,3}-\d{7,8}|400-?\d{3}-?\d{4})(?!\d)")
_SHORT_RE = re.compile(r"(?<![A-Za-z0-9_.])(110|9\d{4}|1\d{4})(?![\d.]|\s*[元块万千百个人岁天号年月日分秒%])")
_CARD_RE = re.compile(r"(?<!\d)((?:\d[ -]?){15,18}\d)(?!\d)")
_QQ_RE = re.compile(r"(?:QQ|qq|扣扣)\s*(?:号码?|群)?\s*[:：是为]?\s*([1-9]\d{4,11})(?!\d)")
_WECHAT_RE = re.compile(
    r"(?:微信|薇信|威信|VX|vx|Vx|wx|WX|V信|v信)\s*(?:号)?\s*[:：是为]?\s*([a-zA-Z][-_a-zA-Z0-9]{5,19})")
# Every pattern above needs an ASCII letter or a digit; most messages have neither, and then
# only app names are looked for (a few microseconds on every message, per the webhook bench).
_LETTER_OR_DIGIT_RE = re.compile(r"[a-z\d]", re.I)
_APP_RE = re.compile(r"(?:下载|安装|装)了?一?个?\s*[“\"「《]?([\u4e00-\u9fa5A-Za-z0-9]{2,12}?)"
                     r"\s*[”\"」》]?\s*(?:APP|App|app|软件|客户端)")


@dataclass(frozen=True)
class Indicator:
    kind: str      # link | phone | card | qq | wechat | app
    value: str     # normalised: lower-case host for links, digits for numbers
    masked: str    # safe to show in replies and pages

    @property
    def key(self) -> str:
        """A stable pseudonym of the value: logs and counters use it, never the number."""
        return hashlib.sha256(f"{self.kind}:{self.value}".encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return KINDS[self.kind]


def mask_digits(digits: str) -> str:
    """138****1234 / 6222********1234; short service numbers stay as they are."""
    if len(digits) <= 6:
        return digits
    keep = 3 if len(digits) <= 12 else 4
    return digits[:keep] + "*" * (len(digits) - keep - 4) + digits[-4:]


def host_of(link: str) -> str:
    """The lower-case host of a link or bare domain, without www., ports or paths."""
    text = re.sub(r"^[a-z]+://", "", link.strip(), flags=re.I)
    host = re.split(r"[/?#:]", text, maxsplit=1)[0].lower().rstrip(".")
    host = host[4:] if host.startswith("www.") else host
    try:   # a domain typed in Chinese characters becomes its punycode form, and is flagged
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        pass
    return host


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def extract(text: str) -> list[Indicator]:
    """Every indicator in a message, each once, in the order they appear."""
    text = unicodedata.normalize("NFKC", text or "")
    found: dict[tuple[str, str], Indicator] = {}

    def add(kind: str, value: str, masked: str) -> None:
        found.setdefault((kind, value), Indicator(kind, value, masked))

    if _LETTER_OR_DIGIT_RE.search(text):
        _extract_numbers_and_links(text, add)
    for m in _APP_RE.finditer(text):
        name = m.group(1).strip()
        if name not in ("国家反诈中心", "反诈", "这个", "那个", "一个", "什么"):
            add("app", name.lower(), name)
    return list(found.values())


def _extract_numbers_and_links(text: str, add) -> None:
    """The indicators made of ASCII letters and digits: links, numbers, QQ and WeChat ids."""
    spans: list[tuple[int, int]] = []
    for m in _URL_RE.finditer(text):
        host = host_of(m.group(0))
        if "." in host:
            add("link", host, host)
            spans.append(m.span())
    for m in _DOMAIN_RE.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue
        add("link", host_of(m.group(1)), host_of(m.group(1)))
    for m in _CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group(1))
        if 16 <= len(digits) <= 19 and not _MOBILE_RE.fullmatch(digits):
            add("card", digits, mask_digits(digits))
            spans.append(m.span())
    for regex in (_MOBILE_RE, _LANDLINE_RE):
        for m in regex.finditer(text):
            if any(a <= m.start() < b for a, b in spans):
                continue
            digits = re.sub(r"\D", "", m.group(1))
            add("phone", digits, mask_digits(digits))
            spans.append(m.span())
    for m in _SHORT_RE.finditer(text):
        if not any(a <= m.start() < b for a, b in spans) and m.group(1) in OFFICIAL_NUMBERS:
            add("phone", m.group(1), m.group(1))
    for m in _QQ_RE.finditer(text):
        add("qq", m.group(1), mask_digits(m.group(1)))
    for m in _WECHAT_RE.finditer(text):
        value = m.group(1).lower()
        add("wechat", value, value[:2] + "***" + value[-2:])


# -- look-alike domains -------------------------------------------------------------------
def registered_domain(host: str) -> str:
    """'a.b.icbc.com.cn' -> 'icbc.com.cn'; 'x.example.cc' -> 'example.cc'."""
    parts = host.split(".")
    if len(parts) >= 3 and parts[-2] in ("com", "net", "org", "gov", "edu") and \
            len(parts[-1]) == 2:
        return ".".join(parts[-3:])
    return ".".join(parts[-2:])


def _label(domain: str) -> str:
    return domain.split(".")[0]


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def official_domain(host: str, official: dict[str, str]) -> str | None:
    """The official domain ``host`` belongs to (itself or a subdomain), or None."""
    return next((d for d in official if host == d or host.endswith("." + d)), None)


def look_alike(host: str, official: dict[str, str]) -> str | None:
    """Why ``host`` looks like an official domain without being one, or None."""
    if official_domain(host, official):
        return None
    if "xn--" in host:
        return "含有特殊字符（国际化域名），常被用来仿冒正规网址"
    own = registered_domain(host)
    label = _label(own)
    for domain, name in official.items():
        if domain == "gov.cn":
            if re.search(r"gov[-.]?cn", host):
                return "名字里带“gov.cn”但不是政府网站（真正的政府网站以 .gov.cn 结尾）"
            continue
        target = _label(domain)
        if label.translate(_LEET) == target.translate(_LEET) or \
                (len(target) >= 4 and edit_distance(label, target) <= 1):
            return f"和{name}官网（{domain}）只差一两个字符，像是仿冒网址"
        if len(target) >= 4 and target in host:
            return f"带着{name}的名字，但不是{name}官网（{domain}）"
    return None


# -- what is known --------------------------------------------------------------------------
NOT_PROOF = "查不到不代表安全：骗子会不停换号码和网址，拿不准就别点、别回、别转账，可拨打96110咨询。"


@dataclass(frozen=True)
class Known:
    """What the watchlist and residents' reports say about one indicator."""
    verdict: str = ""   # scam | official | ""
    note: str = ""
    reporters: int = 0  # distinct residents who reported it


def finding(ind: Indicator, known: Known, official_domains: dict[str, str]) -> str:
    """One line about one indicator, for the resident."""
    name = f"{ind.label} {ind.masked}"
    if known.verdict == "scam":
        line = f"{name}：已被列为诈骗{ind.label}" + (f"（{known.note}）" if known.note else "") + \
            "，不要联系、不要点开、不要转账。"
    elif known.verdict == "official":
        line = f"{name}：是官方的" + (known.note or ind.label) + "。仍请只在官方渠道核实，不要向任何人说验证码。"
    elif ind.kind == "link" and official_domain(ind.value, official_domains):
        d = official_domain(ind.value, official_domains)
        line = f"{name}：属于{official_domains[d]}的官方网址（{d}）。"
    elif ind.kind == "phone" and ind.value in OFFICIAL_NUMBERS:
        line = f"{name}：是{OFFICIAL_NUMBERS[ind.value]}的官方号码。但来电显示可以伪造，请自己回拨核实。"
    elif ind.kind == "link" and (why := look_alike(ind.value, official_domains)):
        line = f"{name}：{why}，不要点开、不要填写任何信息。"
    elif known.reporters:
        line = f"{name}：暂未确认，但已有{known.reporters}位居民举报过，请当作可疑处理。"
    else:
        line = f"{name}：我们的名单里还没有它。"
    if known.verdict and known.reporters:
        line += f"已有{known.reporters}位居民举报过。"
    return line


def describe(found: list[tuple[Indicator, Known]], official_domains: dict[str, str],
             limit: int = 5) -> str:
    """The paragraph added to an answer: what is known about each indicator, and that not
    finding something does not make it safe."""
    if not found:
        return ""
    lines = ["【您发来的号码/链接】"] + [f"· {finding(i, k, official_domains)}"
                                      for i, k in found[:limit]]
    if len(found) > limit:
        lines.append(f"· 另有{len(found) - limit}个没有列出。")
    return "\n".join(lines + [NOT_PROOF])
