"""Chinese text normalisation and tokenisation for the answer engine.

Residents type colloquially, by voice, in traditional characters and with homophone typos, and
paste SMS full of links and numbers. Everything is brought to one form first: simplified
characters (zhconv), half-width ASCII (NFKC), lower case, typo/homophone variants mapped to the
usual word (content/engine/normalize.tsv), links and phone numbers replaced by a placeholder word.
Tokens are jieba words (with our scam-term dictionary, private to each index: see ``Segmenter``)
plus character bigrams, which keep a match alive when segmentation or a typo breaks a word.
"""
from __future__ import annotations

import bisect
import itertools
import logging
import math
import re
import threading
import unicodedata
from functools import lru_cache
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
# The official numbers keep their digits (they name what is asked: 96110 打来的电话, 12381 的
# 短信, 打110); every other number is an amount or a code and says nothing about the scam.
OFFICIAL_NUMBERS = ("96110", "12381", "12321", "110")
_AMOUNT_RE = re.compile(r"(?<![\d.])(?!(?:" + "|".join(OFFICIAL_NUMBERS) + r")(?![\d.]))\d+(?:\.\d+)?|"
                        r"[一二两三四五六七八九十几]+[百千万]+[一二两三四五六七八九]?")
_SPACE_RE = re.compile(r"\s+")
_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff]+")
_DROP_RE = re.compile(r"[^\w\u4e00-\u9fff]+")
_RE_HAN, _RE_SKIP = jieba.re_han_default, jieba.re_skip_default   # jieba's block splitting

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


class Simplifier:
    """``zhconv.convert(text, "zh-cn")``, exactly, in about half the time for a usual message.

    zhconv converts greedily, the longest key of its table at each position first. When no
    key of two or more characters occurs anywhere in the text, every step converts one
    character by itself, which is what ``str.translate`` with the one-character keys does.
    Messages that contain a longer key (身份证 is one; about 7% of the bank's lines) are
    converted by zhconv itself. Tested against zhconv on every line of the bank and of the
    development sets."""

    def __init__(self):
        table = zhconv.zhconv.getdict("zh-cn")
        phrases = [k for k in table if len(k) > 1]
        self._table = table
        self._longest = {}   # first character -> length of the longest phrase it starts
        for k in phrases:
            self._longest[k[0]] = max(self._longest.get(k[0], 0), len(k))
        self._pairs = {k[:2] for k in phrases}
        self._starts = re.compile("[" + "".join(re.escape(c) for c in sorted(self._longest)) + "]")
        self._chars = str.maketrans({k: v for k, v in table.items() if len(k) == 1 and k != v})
        self._pair_keys = None   # (``joined``, made when first needed)

    def __call__(self, text: str) -> str:
        table, pairs = self._table, self._pairs
        for m in self._starts.finditer(text):
            i = m.start()
            if text[i:i + 2] in pairs and any(text[i:i + n] in table
                                             for n in range(2, self._longest[text[i]] + 1)):
                return zhconvert(text, "zh-cn")
        return text.translate(self._chars)

    def joined(self, text: str, sep: str) -> str:
        """This conversion of each of the texts that ``text`` joins with ``sep`` (a character
        of no key), joined again: the places where a longer key may start (its first two
        characters) found for all texts at once, as integer pairs in numpy, and only the
        texts that hold one converted by zhconv."""
        import numpy as np

        if self._pair_keys is None:
            self._pair_keys = np.unique(np.asarray([_pair_key(p) for p in self._pairs],
                                                   np.int64))
        cp = np.frombuffer(text.encode("utf-32-le"), np.uint32).astype(np.int64)
        pairs = (cp[:-1] << 21) | cp[1:]   # (none in a text of one character: no hits below)
        at = np.minimum(self._pair_keys.searchsorted(pairs), len(self._pair_keys) - 1)
        table, hits = self._table, []
        for i in np.flatnonzero(self._pair_keys[at] == pairs).tolist():
            if any(text[i:i + n] in table for n in range(2, self._longest[text[i]] + 1)):
                hits.append(i)
        if not hits:
            return text.translate(self._chars)
        pieces = text.split(sep)
        bounds = list(itertools.accumulate(len(p) + 1 for p in pieces))   # each text's end + 1
        convert = {bisect.bisect_right(bounds, i) for i in hits}
        return sep.join(zhconvert(p, "zh-cn") if k in convert else p.translate(self._chars)
                        for k, p in enumerate(pieces))


def _pair_key(pair: str) -> int:
    return (ord(pair[0]) << 21) | ord(pair[1])


simplify = Simplifier()


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
        text = simplify(text).lower()
        if self._re is not None:
            text = self._re.sub(lambda m: self._map[m.group()], text)
        return _SPACE_RE.sub(" ", text).strip()

    def many(self, texts: list[str]) -> list[str]:
        """``[self(t) for t in texts]``, the same strings, faster for an index build: NFKC
        text by text, then each step once over the texts joined by NUL, which none of them
        changes, matches or reads across (lower-casing's context stops at it; no zhconv key,
        variant or whitespace holds it). Texts that hold a NUL themselves are normalised one
        by one."""
        joined = "\0".join(unicodedata.normalize("NFKC", t or "") for t in texts)
        if joined.count("\0") != len(texts) - 1:
            return [self(t) for t in texts]
        text = simplify.joined(joined, "\0").lower()
        if self._re is not None:
            text = self._re.sub(lambda m: self._map[m.group()], text)
        return [t.strip() for t in _SPACE_RE.sub(" ", text).split("\0")]


# A character that each pattern of mask_for_matching needs in a match (mask_many).
_MASKABLE_RE = re.compile(r"[\da-z百千万]", re.I)


def mask_many(texts: list[str]) -> list[str]:
    """``[mask_for_matching(t) for t in texts]`` for an index build: a text with no
    character that a pattern needs (most of a bank's lines) is kept as it is."""
    maskable = _MASKABLE_RE.search
    return [mask_for_matching(t) if maskable(t) else t for t in texts]


def mask_for_matching(text: str) -> str:
    """Replace links, phone numbers and amounts by words: a pasted SMS should match cases about
    links and calls, and '5000' or '两千' says nothing about the kind of scam."""
    text = _LINK_RE.sub(" 链接 ", text)
    text = _PHONE_RE.sub(" 电话号码 ", text)
    return _AMOUNT_RE.sub(" qty ", text)


USER_WORD_FREQ = 20000   # what jieba gives a user word: enough to keep 刷单返利 one token
LOGP_CACHE = 1 << 14     # fragments whose score a segmenter remembers (~2 MB at most)
_MISS, _STOP = object(), object()

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
    """jieba's accurate mode with HMM (``jieba.Tokenizer.cut(text, HMM=True)``, token for
    token) over jieba's dictionary plus our scam terms, private to one index, so segmentation
    depends only on the content: ``jieba.add_word`` on the global tokenizer adds to its
    frequency total even for known words, so every rebuild used to shift every later
    segmentation a little.

    The same algorithm as jieba's, run faster, because tokenising is most of an index build:
    our terms sit in a small overlay over jieba's shared dictionary instead of a 40 MB copy of
    it per index; the word graph and the best route are one backward pass instead of a dict of
    lists and a generator per character; the HMM's cut of an unknown run of single characters
    is remembered (the same runs recur). Scores are computed with the same float operations in
    the same order, and ties go the same way, so the tokens are identical (tested against jieba
    itself). An index build cuts its texts many at once in numpy (``bulk.cut_many``)."""

    def __init__(self, words=()):
        self.words = user_words(words)
        base = _base_dictionary()
        self._base_freq = base.FREQ
        # What jieba.Tokenizer.add_word(w, freq=USER_WORD_FREQ) does for each word, in order:
        # the word gets the frequency, its prefixes become known (frequency 0) if they were
        # not, and the total grows by the frequency.
        overlay = dict.fromkeys(self.words, USER_WORD_FREQ)
        for w in self.words:
            for i in range(1, len(w)):
                if w[:i] not in overlay and w[:i] not in base.FREQ:
                    overlay[w[:i]] = 0
        self._overlay = overlay
        self._logtotal = math.log(base.total + USER_WORD_FREQ * len(self.words))
        self._hmm = lru_cache(maxsize=1 << 16)(_hmm_cut)
        self._logp: dict[str, float | None | object] = {}   # (_logp_of)

    def cut(self, text: str) -> list[str]:
        """``jieba.Tokenizer.lcut(text, HMM=True)`` with this segmenter's dictionary."""
        out: list[str] = []
        for block in _RE_HAN.split(text):
            if not block:
                continue
            if _RE_HAN.match(block):
                self._cut_block(block, out)
            else:
                for x in _RE_SKIP.split(block):
                    if _RE_SKIP.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def _freq(self, word: str) -> int | None:
        f = self._overlay.get(word)
        return self._base_freq.get(word) if f is None else f

    def _route(self, block: str) -> list[int]:
        """End (exclusive) of the best word starting at each position: jieba's get_DAG and
        calc in one backward pass. jieba takes the max of (score, end) tuples, so a tie goes
        to the longer word; ``>=`` over ascending ends does the same."""
        n = len(block)
        logp, miss, stop = self._logp, _MISS, _STOP
        score = [0.0] * (n + 1)
        ends = [0] * n
        for k in range(n - 1, -1, -1):
            best, best_end = None, k + 1
            i, frag = k, block[k]
            while True:
                lp = logp.get(frag, miss)
                if lp is miss:
                    lp = self._logp_of(frag)
                if lp is stop:
                    break
                if lp is not None:
                    s = lp + score[i + 1]
                    if best is None or s >= best:
                        best, best_end = s, i + 1
                i += 1
                if i >= n:
                    break
                frag = block[k:i + 1]
            # No word starts here: the character alone, at jieba's log(1) - logtotal.
            score[k] = 0.0 - self._logtotal + score[k + 1] if best is None else best
            ends[k] = best_end
        return ends

    def _logp_of(self, frag: str):
        """``log(freq) - logtotal`` of a word (jieba's score of it), None for a prefix that is
        no word (frequency 0), ``_STOP`` for a fragment no word starts with; remembered (the
        same fragments recur in every message): the first ``LOGP_CACHE`` met, which are the
        common ones (a full memory that was cleared would miss them all again)."""
        f = self._freq(frag)
        lp = _STOP if f is None else math.log(f) - self._logtotal if f else None
        if len(self._logp) < LOGP_CACHE:
            self._logp[frag] = lp
        return lp

    def _cut_block(self, block: str, out: list[str]) -> None:
        """jieba's __cut_DAG: the best route; runs of single characters that do not form a
        known word go to the HMM (jieba.finalseg)."""
        self._walk(block, self._route(block), out)

    def _walk(self, block: str, ends, out: list, hmm=None) -> None:
        """Follow a block's best route (``ends[x]``: end of the best word starting at x);
        ``hmm`` cuts unknown runs (default: this segmenter's cached ``_hmm_cut``)."""
        hmm = hmm or self._hmm
        x, start, n = 0, 0, len(block)   # block[start:x] is the pending run of single characters
        while x < n:
            y = ends[x]
            if y - x > 1:
                if x > start:
                    self._flush(block[start:x], out, hmm)
                out.append(block[x:y])
                start = y
            x = y
        if n > start:
            self._flush(block[start:n], out, hmm)

    def _flush(self, run: str, out: list, hmm) -> None:
        if len(run) == 1:
            out.append(run)
        elif not self._freq(run):
            out.extend(hmm(run))
        else:
            out.extend(run)


def _hmm_cut(run: str) -> tuple[str, ...]:
    """``jieba.finalseg.cut(run)``: jieba's HMM segmentation of a run of characters that do
    not form dictionary words. finalseg also splits the words of its global
    Force_Split_Words, which only ``add_word(w, 0)`` / ``del_word`` fill; nothing here calls
    them, so the result depends on the run alone and can be remembered."""
    out: list[str] = []
    for block in _HMM_HAN.split(run):
        if _HMM_HAN.match(block):
            out.extend(_hmm_words(block))
        else:
            out.extend(x for x in _HMM_SKIP.split(block) if x)
    return tuple(out)


def _hmm_words(chars: str) -> list[str]:
    """finalseg's Viterbi over B/M/E/S and its cut, unrolled: the same sums in the same order
    (previous + transition + emission), and ties broken as its max over (prob, state) tuples
    does (towards the later state letter); back-pointers instead of copied paths."""
    e_b, e_m, e_e, e_s = (_EMIT[k] for k in "BMES")
    (t_eb, t_sb, t_mm, t_bm, t_ss, t_es, t_be, t_me) = _TRANS
    c = chars[0]
    v_b, v_m = _START["B"] + e_b.get(c, _MIN), _START["M"] + e_m.get(c, _MIN)
    v_e, v_s = _START["E"] + e_e.get(c, _MIN), _START["S"] + e_s.get(c, _MIN)
    back = []
    for c in chars[1:]:
        em = e_b.get(c, _MIN)
        x, y = v_e + t_eb + em, v_s + t_sb + em
        n_b, p_b = (x, "E") if x > y else (y, "S")
        em = e_m.get(c, _MIN)
        x, y = v_b + t_bm + em, v_m + t_mm + em
        n_m, p_m = (x, "B") if x > y else (y, "M")
        em = e_s.get(c, _MIN)
        x, y = v_e + t_es + em, v_s + t_ss + em
        n_s, p_s = (x, "E") if x > y else (y, "S")
        em = e_e.get(c, _MIN)
        x, y = v_b + t_be + em, v_m + t_me + em
        n_e, p_e = (x, "B") if x > y else (y, "M")
        v_b, v_m, v_e, v_s = n_b, n_m, n_e, n_s
        back.append({"B": p_b, "M": p_m, "E": p_e, "S": p_s})
    state = "E" if v_e > v_s else "S"
    states = [state]
    for pointers in reversed(back):
        state = pointers[state]
        states.append(state)
    states.reverse()
    return words_of_states(chars, states)


def words_of_states(chars: str, states) -> list[str]:
    """finalseg's cut of ``chars`` from their B/M/E/S states (also the build's batch
    tokeniser's, bulk.py)."""
    words, begin, after = [], 0, 0
    for i, pos in enumerate(states):
        if pos == "B":
            begin = i
        elif pos == "E":
            words.append(chars[begin:i + 1])
            after = i + 1
        elif pos == "S":
            words.append(chars[i])
            after = i + 1
    if after < len(chars):
        words.append(chars[after:])
    return words


_START, _EMIT = jieba.finalseg.start_P, jieba.finalseg.emit_P
_MIN = jieba.finalseg.MIN_FLOAT
_TRANS = tuple(jieba.finalseg.trans_P[a].get(b, _MIN)
               for a, b in ("EB", "SB", "MM", "BM", "SS", "ES", "BE", "ME"))
_HMM_HAN, _HMM_SKIP = jieba.finalseg.re_han, jieba.finalseg.re_skip


_plain: Segmenter | None = None


def plain_segmenter() -> Segmenter:
    """jieba's dictionary without our terms (for callers that have no index at hand)."""
    global _plain
    if _plain is None:
        _plain = Segmenter()
    return _plain


def tokenize(normalized: str, segmenter: Segmenter | None = None,
             masked: str | None = None) -> list[str]:
    """Words (jieba with the index's terms) plus CJK character bigrams prefixed with '~',
    stopwords dropped. ``masked``: ``mask_for_matching(normalized)`` if the caller has it."""
    return words_and_tokens(normalized, segmenter, masked)[1]


def words_and_tokens(normalized: str, segmenter: Segmenter | None = None,
                     masked: str | None = None) -> tuple[list[str], list[str]]:
    """(every word of the cut but spaces and punctuation, ``tokenize``'s tokens) from one
    segmentation: the retrieval reads the tokens, the scope view the words, whose single
    characters and stopwords (我 让 他 的) tell who acts."""
    text = mask_for_matching(normalized) if masked is None else masked
    segmenter = segmenter or plain_segmenter()
    words = [w for w in segmenter.cut(text) if not _DROP_RE.fullmatch(w)]
    # Single characters are left to the bigrams: alone (块, 转, 钱) they say little.
    tokens = [w for w in words if len(w) > 1 and w not in STOPWORDS]
    for run in _CJK_RUN_RE.findall(text):
        tokens += ["~" + run[i:i + 2] for i in range(len(run) - 1)]
    return words, tokens

