"""Chinese text normalisation and tokenisation for the answer engine.

Residents type colloquially, by voice, in traditional characters and with homophone typos, and
paste SMS full of links and numbers. Everything is brought to one form first: simplified
characters (zhconv), half-width ASCII (NFKC), lower case, typo/homophone variants mapped to the
usual word (content/engine/normalize.tsv), links and phone numbers replaced by a placeholder word.
Tokens are jieba words (with our scam-term dictionary, private to each index: see ``Segmenter``)
plus character bigrams, which keep a match alive when segmentation or a typo breaks a word.
"""
from __future__ import annotations

import logging
import re
import threading
import unicodedata
from pathlib import Path

import jieba
import zhconv.zhconv
from zhconv import convert as zhconvert

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)
# zhconv's default loader leaves its dictionary file open (a ResourceWarning); loading it by
# path goes through a `with open(...)`.
zhconv.zhconv.loaddict(str(Path(zhconv.zhconv.__file__).with_name("zhcdict.json")))

_LINK_RE = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|cn|cc|net|top|"
                      r"xyz|vip|org|info|shop|app|io|me|icu|club)\b(?:/\S*)?", re.I)
_PHONE_RE = re.compile(r"(?<![\da-z])(?:1[3-9][\dx*]{9}|0\d{2,3}-?[\dx*]{7,8}|[49]00[\dx*]{7}|"
                       r"\d{3}[x*]{3,4}\d{2,4})(?![\da-z])", re.I)
_AMOUNT_RE = re.compile(r"\d+(?:\.\d+)?|[一二两三四五六七八九十几]+[百千万]+[一二两三四五六七八九]?")
_SPACE_RE = re.compile(r"\s+")
_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff]+")
_DROP_RE = re.compile(r"[^\w\u4e00-\u9fff]+")

# Words too common to carry meaning on their own. Kept short on purpose: in this domain many
# "function" words (已经, 还, 先) matter, so only pure fillers are listed.
STOPWORDS = frozenset("""
的 了 吗 呢 吧 啊 呀 哦 嗯 喂 啦 么 嘛 哈 呗 哎 唉 噢 诶 和 与 及 或 是 在 有 我 你 他 她 它 我们 你们
他们 她们 这 那 这个 那个 这种 那种 就是 就是说 然后 一个 一下 什么 怎么 怎么样 如何 请问 请 问 问一下
一 个 也 都 还 又 就 着 过 被 把 给 让 对 说 跟 会 能 要 想 去 来 到 从 上 下 里 中 为 因为 所以 但是
可是 而且 如果 这样 那样 自己 人家 咱 咱们 您 您好 你好 谢谢 好 吧 的话 之类 等等 一些 有点 有些 比较
我刚 刚刚 刚才 已经 后来 之前 以前 现在 今天 昨天 前天 前几天 最近 一直 还是 不是 是不是 这是 那是
真的 可以 可能 应该 知道 觉得 感觉 好像 到底 一般 时候 东西 事情 一下子 我们家 我家
""".split())


class Normalizer:
    """Maps variant spellings to one form; built once from content/engine/normalize.tsv."""

    def __init__(self, pairs: list[tuple[str, str]]):
        # Longest variants first so 验正码 wins over 正码.
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))
        self._re = re.compile("|".join(re.escape(v) for v, _ in self.pairs)) if pairs else None
        self._map = dict(self.pairs)

    @classmethod
    def from_file(cls, path: Path) -> "Normalizer":
        pairs = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line and "\t" in line:
                    variant, canonical = line.split("\t", 1)
                    pairs.append((zhconvert(variant.strip(), "zh-cn"), canonical.strip()))
        return cls(pairs)

    def __call__(self, text: str) -> str:
        """Simplified, half-width, lower-case text with variants fixed (links/numbers kept)."""
        text = unicodedata.normalize("NFKC", text or "")
        text = zhconvert(text, "zh-cn").lower()
        if self._re is not None:
            text = self._re.sub(lambda m: self._map[m.group()], text)
        return _SPACE_RE.sub(" ", text).strip()


def mask_for_matching(text: str) -> str:
    """Replace links, phone numbers and amounts by words: a pasted SMS should match cases about
    links and calls, and '5000' or '两千' says nothing about the kind of scam."""
    text = _LINK_RE.sub(" 链接 ", text)
    text = _PHONE_RE.sub(" 电话号码 ", text)
    return _AMOUNT_RE.sub(" qty ", text)


USER_WORD_FREQ = 20000   # what jieba gives a user word: enough to keep 刷单返利 one token

_base_lock = threading.Lock()
_base: jieba.Tokenizer | None = None


def _base_dictionary() -> jieba.Tokenizer:
    """jieba's own dictionary, loaded once per process (from jieba's cache file) into a
    private Tokenizer that nothing ever adds to."""
    global _base
    with _base_lock:
        if _base is None:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _base = tokenizer
        return _base


def user_words(words) -> tuple[str, ...]:
    """Our scam terms as the segmenter takes them: lower case, CJK, 2-12 characters, sorted."""
    return tuple(sorted(w for w in {w.strip().lower() for w in words}
                        if 2 <= len(w) <= 12 and not w.isascii()))


class Segmenter:
    """jieba with our scam terms, private to one index, so segmentation depends only on the
    content: ``jieba.add_word`` on the global tokenizer adds to its frequency total even for
    known words, so every rebuild used to shift every later segmentation a little."""

    def __init__(self, words=()):
        self.words = user_words(words)
        base = _base_dictionary()
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ, tokenizer.total = dict(base.FREQ), base.total
        tokenizer.initialized = True
        for w in self.words:   # sorted and distinct: the same dictionary from the same words
            tokenizer.add_word(w, freq=USER_WORD_FREQ)
        self._tokenizer = tokenizer

    def cut(self, text: str) -> list[str]:
        return self._tokenizer.lcut(text, HMM=True)


_plain: Segmenter | None = None


def plain_segmenter() -> Segmenter:
    """jieba's dictionary without our terms (for callers that have no index at hand)."""
    global _plain
    if _plain is None:
        _plain = Segmenter()
    return _plain


def tokenize(normalized: str, segmenter: Segmenter | None = None) -> list[str]:
    """Words (jieba with the index's terms) plus CJK character bigrams prefixed with '~',
    stopwords dropped."""
    text = mask_for_matching(normalized)
    segmenter = segmenter or plain_segmenter()
    # Single characters are left to the bigrams: alone (块, 转, 钱) they say little.
    tokens = [w for w in segmenter.cut(text)
              if len(w) > 1 and w not in STOPWORDS and not _DROP_RE.fullmatch(w)]
    for run in _CJK_RUN_RE.findall(text):
        tokens.extend("~" + run[i:i + 2] for i in range(len(run) - 1))
    return tokens
