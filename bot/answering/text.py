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
import math
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba
import numpy as np
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
    itself)."""

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
        self._overlay_initials = frozenset(w[0] for w in overlay)
        self._logtotal = math.log(base.total + USER_WORD_FREQ * len(self.words))
        self._hmm = lru_cache(maxsize=1 << 16)(_hmm_cut)

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

    def cut_many(self, texts, lexicon: "_Lexicon | None" = None,
                 blocks_only: bool = False) -> list[list[str]]:
        """``[self.cut(t) for t in texts]``, token for token, for an index build: the best
        routes of every distinct CJK block of the texts are found at once in numpy
        (``_routes``, looking words up in ``lexicon``, by default ``self.lexicon()``)
        instead of character by character; the rest is ``cut``'s. ``blocks_only`` leaves
        out what lies between the blocks (single characters and whitespace, all of which
        ``tokenize`` drops)."""
        blocks: dict[str, int] = {}
        plans = []
        for text in texts:
            parts = _RE_HAN.split(text)   # other, block, other, block, ..., other
            parts[1::2] = [blocks.setdefault(b, len(blocks)) for b in parts[1::2]]
            plans.append(parts)
        order = list(blocks)
        # Walk every block's route; the runs that go to the HMM are marked ((run,) in the
        # block's words) and cut all at once afterwards (``_hmm_cut_many``).
        deferred: list[str] = []

        def defer(run: str):
            deferred.append(run)
            return ((run,),)

        cuts: list[list] = []
        marked: list[int] = []
        routes = self._routes(order, lexicon or self.lexicon())
        for i, (block, ends) in enumerate(zip(order, routes)):
            words: list = []
            waiting = len(deferred)
            self._walk(block, ends, words, defer)
            if len(deferred) > waiting:
                marked.append(i)
            cuts.append(words)
        hmm = _hmm_cut_many(set(deferred))
        for i in marked:
            cuts[i] = [t for w in cuts[i] for t in (hmm[w[0]] if w.__class__ is tuple else (w,))]
        out = []
        if blocks_only:
            for parts in plans:
                tokens: list[str] = []
                for i in parts[1::2]:
                    tokens += cuts[i]
                out.append(tokens)
            return out
        between: dict[str, list[str]] = {}
        for parts in plans:
            tokens = []
            for j, part in enumerate(parts):
                if j & 1:
                    tokens += cuts[part]
                elif part:
                    cut = between.get(part)
                    if cut is None:
                        cut = between[part] = [y for x in _RE_SKIP.split(part) if x for y in
                                               ((x,) if _RE_SKIP.match(x) else x)]
                    tokens += cut
            out.append(tokens)
        return out

    def _routes(self, blocks: list[str], lex: "_Lexicon") -> list[list[int]]:
        """``[self._route(b) for b in blocks]`` in numpy: every block's codepoints side by
        side (one empty slot after each block, where a route's score is 0), the word graph
        one word length at a time (dictionary lookups as sorted integer keys: ``_Lexicon``),
        then jieba's backward pass over all blocks together, one distance from the block's
        end at a time, with its float operations in its order and its ties."""
        if not blocks or lex.collisions:   # (two dictionary words with one hashed key)
            return [self._route(b) for b in blocks]
        lengths = np.fromiter(map(len, blocks), np.int64, len(blocks))
        starts = np.zeros(len(blocks), np.int64)
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
        size = int(starts[-1] + lengths[-1] + 1)
        cp = np.frombuffer("\0".join(blocks).encode("utf-32-le"), np.uint32).astype(np.int64)
        cp = np.concatenate((cp, [0]))
        block_end = np.repeat(starts + lengths, lengths + 1)   # per slot (sentinels too)
        positions = np.flatnonzero(cp)   # every character (sentinels are 0)
        # The word graph: (start, end, log frequency) of every dictionary word in a block,
        # found as jieba's get_DAG finds them: a start extends while the fragment is known.
        cand_pos, cand_end, cand_logf = [], [], []
        active = positions
        key = np.zeros(len(active), np.uint64)
        for length in range(1, lex.max_length + 1):
            ends = active + length
            inside = ends <= block_end[active]
            active, key, ends = active[inside], key[inside], ends[inside]
            if not len(active):
                break
            key = lex.extend(key, cp[ends - 1], length)
            found, logf = lex.lookup(key, length)
            active, key, ends, logf = active[found], key[found], ends[found], logf[found]
            word = ~np.isnan(logf)
            if length > _EXACT_KEY_CHARS and word.any():
                # Longer words are hashed: confirm each by its string (a hash that collides
                # with another word's is no word, or that word's frequency).
                hits = np.flatnonzero(word)
                owner = np.searchsorted(starts, active[hits], side="right") - 1
                for i, b, offset in zip(hits.tolist(), owner.tolist(),
                                        (active[hits] - starts[owner]).tolist()):
                    f = self._freq(blocks[b][offset:offset + length])
                    if f:
                        logf[i] = math.log(f)
                    else:
                        word[i] = False
            cand_pos.append(active[word])
            cand_end.append(ends[word])
            cand_logf.append(logf[word])
        cand_pos = np.concatenate(cand_pos)
        cand_end = np.concatenate(cand_end)
        cand_lp = np.concatenate(cand_logf) - self._logtotal   # log(f) - logtotal, as jieba
        # Backward pass, all blocks at once: a slot's score needs the scores after it in its
        # block, so slots go by distance from their block's end.
        distance = block_end - 1 - np.arange(size)
        by_slot = np.lexsort((cand_end, cand_pos))             # by start, ends ascending
        cand_pos, cand_end, cand_lp = cand_pos[by_slot], cand_end[by_slot], cand_lp[by_slot]
        cand_distance = distance[cand_pos]
        by_distance = np.argsort(cand_distance, kind="stable")
        cand_pos, cand_end, cand_lp = (cand_pos[by_distance], cand_end[by_distance],
                                       cand_lp[by_distance])
        steps = np.arange(int(lengths.max()) + 1)
        cand_bounds = np.searchsorted(cand_distance[by_distance], steps)
        slot_distance = distance[positions]
        by_distance = np.argsort(slot_distance, kind="stable")
        slot_order = positions[by_distance]
        slot_bounds = np.searchsorted(slot_distance[by_distance], steps)
        score = np.zeros(size + 1)
        best_end = np.zeros(size + 1, np.int64)
        fallback = 0.0 - self._logtotal    # no word starts here: the character at log(1)
        for d in range(len(slot_bounds) - 1):
            slots = slot_order[slot_bounds[d]:slot_bounds[d + 1]]
            score[slots] = fallback + score[slots + 1]
            best_end[slots] = slots + 1
            lo, hi = cand_bounds[d], cand_bounds[d + 1]
            if hi == lo:
                continue
            pos, end = cand_pos[lo:hi], cand_end[lo:hi]
            value = cand_lp[lo:hi] + score[end]
            first = np.flatnonzero(np.concatenate(([True], pos[1:] != pos[:-1])))
            best = np.maximum.reduceat(value, first)
            owner = np.repeat(np.arange(len(first)), np.diff(np.append(first, len(pos))))
            score[pos[first]] = best
            best_end[pos[first]] = np.maximum.reduceat(np.where(value == best[owner], end, -1),
                                                       first)
        relative = (best_end[:size] - np.repeat(starts, lengths + 1)).tolist()
        routes = [relative[start:start + n] for start, n in zip(starts.tolist(), lengths.tolist())]
        return routes

    def lexicon(self) -> "_Lexicon":
        """This segmenter's dictionary as sorted integer keys, for ``cut_many`` (0.2 s, 8 MB:
        a build makes one and drops it when done)."""
        return _Lexicon.of(self._base_freq).with_overlay(self._overlay)

    def _freq(self, word: str) -> int | None:
        f = self._overlay.get(word)
        return self._base_freq.get(word) if f is None else f

    def _route(self, block: str) -> list[int]:
        """End (exclusive) of the best word starting at each position: jieba's get_DAG and
        calc in one backward pass. jieba takes the max of (score, end) tuples, so a tie goes
        to the longer word; ``>=`` over ascending ends does the same."""
        n = len(block)
        overlay, base, logtotal, log = self._overlay, self._base_freq, self._logtotal, math.log
        score = [0.0] * (n + 1)
        ends = [0] * n
        for k in range(n - 1, -1, -1):
            best, best_end = None, k + 1
            i, frag = k, block[k]
            # Most positions start no term of ours: then jieba's dictionary alone answers.
            words = overlay if frag in self._overlay_initials else None
            while True:
                f = words.get(frag) if words is not None else None
                if f is None:
                    f = base.get(frag)
                    if f is None:
                        break
                if f:
                    s = log(f) - logtotal + score[i + 1]
                    if best is None or s >= best:
                        best, best_end = s, i + 1
                i += 1
                if i >= n:
                    break
                frag = block[k:i + 1]
            # No word starts here: the character alone, at jieba's log(1) - logtotal.
            score[k] = 0.0 - logtotal + score[k + 1] if best is None else best
            ends[k] = best_end
        return ends

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


_EXACT_KEY_CHARS = 3        # up to 3 code points (21 bits each) are a word's key exactly
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)   # longer words: a multiplicative hash


class _Lexicon:
    """A dictionary (word -> frequency) as sorted integer keys per word length, with log(f)
    for words and NaN for prefixes that are no word (frequency 0): what ``Segmenter._routes``
    looks fragments up in, many at once. A word's key is its first three code points packed
    (exact), then a multiplicative hash of the rest; a hashed hit is confirmed by its string
    (``_routes``), and two words of one length with the same key (``collisions``) send the
    caller back to the exact per-block route."""

    def __init__(self, tables: dict[int, tuple[np.ndarray, np.ndarray]], collisions: bool):
        self.tables = tables
        self.max_length = max(tables, default=0)
        self.collisions = collisions

    @staticmethod
    def keys(words: list[str], length: int) -> np.ndarray:
        """The keys of words that all have ``length`` characters."""
        cp = np.frombuffer("".join(words).encode("utf-32-le"), np.uint32)
        return _Lexicon._keys_at(cp, np.arange(len(words), dtype=np.int64) * length, length)

    @staticmethod
    def _keys_at(cp: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        key = np.zeros(len(starts), np.uint64)
        for i in range(length):
            key = _Lexicon.extend(key, cp[starts + i], i + 1)
        return key

    @staticmethod
    def extend(key: np.ndarray, cp: np.ndarray, length: int) -> np.ndarray:
        """The key of a fragment from the key of its first ``length - 1`` characters."""
        cp = cp.astype(np.uint64)
        if length <= _EXACT_KEY_CHARS:
            return (key << np.uint64(21)) | cp
        return key * _HASH_MULTIPLIER + cp

    @classmethod
    def of(cls, freq: dict) -> "_Lexicon":
        """From a word -> frequency dict (jieba's FREQ), in numpy: no Python work per word
        but its length (log f is computed once per distinct frequency, with math.log as
        jieba does)."""
        words = list(freq)
        freqs, where = np.unique(np.fromiter(freq.values(), np.int64, len(words)),
                                 return_inverse=True)
        logf = np.asarray([math.log(f) if f else math.nan for f in freqs.tolist()])[where]
        lengths = np.fromiter(map(len, words), np.int64, len(words))
        starts = np.zeros(len(words), np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        cp = np.frombuffer("".join(words).encode("utf-32-le"), np.uint32)
        tables, collisions = {}, False
        for length in np.unique(lengths).tolist():
            these = np.flatnonzero(lengths == length)
            keys = cls._keys_at(cp, starts[these], length)
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            collisions |= bool(len(keys) > 1 and (keys[1:] == keys[:-1]).any())
            tables[length] = (keys, logf[these][order])
        return cls(tables, collisions)

    def with_overlay(self, overlay: dict[str, int]) -> "_Lexicon":
        """This dictionary with ``overlay``'s words added or replaced (a segmenter's terms)."""
        if not overlay:
            return self
        extra = _Lexicon.of(overlay)
        tables, collisions = dict(self.tables), self.collisions or extra.collisions
        for length, (keys, logf) in extra.tables.items():
            if length in tables:
                base_keys, base_logf = tables[length]
                kept = ~np.isin(base_keys, keys)
                keys = np.concatenate((base_keys[kept], keys))
                logf = np.concatenate((base_logf[kept], logf))
                order = np.argsort(keys, kind="stable")
                keys, logf = keys[order], logf[order]
            tables[length] = (keys, logf)
        return _Lexicon(tables, collisions)

    def lookup(self, key: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(found, log f or NaN) of fragments of one length, by key."""
        table = self.tables.get(length)
        if table is None or not len(table[0]):
            return np.zeros(len(key), bool), np.zeros(len(key))
        keys, logf = table
        at = np.minimum(keys.searchsorted(key), len(keys) - 1)
        return keys[at] == key, logf[at]


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


def _hmm_cut_many(runs) -> dict[str, tuple[str, ...]]:
    """``{run: _hmm_cut(run)}``, the Viterbi of every CJK block of the runs at once
    (``_hmm_states``)."""
    blocks: dict[str, int] = {}
    plans = {}
    for run in runs:
        plan = []
        for block in _HMM_HAN.split(run):
            if _HMM_HAN.match(block):
                plan.append(blocks.setdefault(block, len(blocks)))
            else:
                plan.extend(x for x in _HMM_SKIP.split(block) if x)
        plans[run] = plan
    order = list(blocks)
    words = [_words_of_states(chars, states) for chars, states in zip(order, _hmm_states(order))]
    return {run: tuple(t for part in plan for t in (words[part] if part.__class__ is int
                                                    else (part,)))
            for run, plan in plans.items()}


_STATE_LETTERS = np.frombuffer(b"BMES", np.uint8)
# Previous state of the best path into B, M, E, S, by whether the first candidate won
# (x > y; a tie goes to the second, as finalseg's max over (prob, state) tuples).
_PREVIOUS = np.asarray([[3, 2], [1, 0], [1, 0], [3, 2]], np.int8)   # B=0 M=1 E=2 S=3
_emission_table: np.ndarray | None = None


def _emissions() -> np.ndarray:
    """finalseg's emission log-probabilities as a (state, code point - U+4E00) table, _MIN
    where it has none (``emit_P[state].get(c, MIN_FLOAT)``)."""
    global _emission_table
    if _emission_table is None:
        table = np.full((4, 0x9FD6 - 0x4E00), _MIN)
        for row, state in enumerate("BMES"):
            for c, p in _EMIT[state].items():
                if 0x4E00 <= ord(c) <= 0x9FD5:
                    table[row, ord(c) - 0x4E00] = p
        _emission_table = table
    return _emission_table


def _hmm_states(blocks: list[str]) -> list[str]:
    """The Viterbi state letters of each CJK block (U+4E00-U+9FD5), as ``_hmm_words``
    computes them, for all blocks at once: longest first, so the blocks still running at
    step t are a prefix; the same sums in the same order and the same ties."""
    if not blocks:
        return []
    lengths = np.fromiter(map(len, blocks), np.int64, len(blocks))
    order = np.argsort(-lengths, kind="stable")
    lengths = lengths[order]
    ordered = [blocks[i] for i in order.tolist()]
    offsets = np.zeros(len(blocks), np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    cp = np.frombuffer("".join(ordered).encode("utf-32-le"), np.uint32).astype(np.int64) - 0x4E00
    e_b, e_m, e_e, e_s = _emissions()
    (t_eb, t_sb, t_mm, t_bm, t_ss, t_es, t_be, t_me) = _TRANS
    steps = int(lengths[0])
    running = np.searchsorted(-lengths, -np.arange(steps + 1), side="left")  # blocks longer than t
    c = cp[offsets]
    v_b, v_m = _START["B"] + e_b[c], _START["M"] + e_m[c]
    v_e, v_s = _START["E"] + e_e[c], _START["S"] + e_s[c]
    final = np.empty(len(blocks), np.int8)
    won = []   # per step t >= 1: (4, running) whether the first candidate won

    def finish(t):   # blocks whose last character is t: their last state
        lo, hi = running[t + 1], running[t]
        final[lo:hi] = np.where(v_e[lo:hi] > v_s[lo:hi], 2, 3)

    finish(0)
    for t in range(1, steps):
        n = running[t]
        v_b, v_m, v_e, v_s = v_b[:n], v_m[:n], v_e[:n], v_s[:n]
        c = cp[offsets[:n] + t]
        em = e_b[c]
        x, y = v_e + t_eb + em, v_s + t_sb + em
        w_b, n_b = x > y, np.where(x > y, x, y)
        em = e_m[c]
        x, y = v_b + t_bm + em, v_m + t_mm + em
        w_m, n_m = x > y, np.where(x > y, x, y)
        em = e_s[c]
        x, y = v_e + t_es + em, v_s + t_ss + em
        w_s, n_s = x > y, np.where(x > y, x, y)
        em = e_e[c]
        x, y = v_b + t_be + em, v_m + t_me + em
        w_e, n_e = x > y, np.where(x > y, x, y)
        v_b, v_m, v_e, v_s = n_b, n_m, n_e, n_s
        won.append(np.stack((w_b, w_m, w_e, w_s)))
        finish(t)
    states = np.empty(len(cp), np.int8)
    current = np.zeros(0, np.int8)
    for t in range(steps - 1, -1, -1):
        n = running[t]
        if t + 1 < steps and len(current):
            w = won[t]   # the step into t + 1
            current = _PREVIOUS[current, w[current, np.arange(len(current))].astype(np.int64)]
        current = np.concatenate((current, final[len(current):n]))
        states[offsets[:n] + t] = current
    letters = _STATE_LETTERS[states].tobytes().decode("ascii")
    out = [""] * len(blocks)
    for i, start, n in zip(order.tolist(), offsets.tolist(), lengths.tolist()):
        out[i] = letters[start:start + n]
    return out


def _words_of_states(chars: str, states: str) -> list[str]:
    """finalseg's cut from the Viterbi states (as ``_hmm_words`` ends)."""
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


class _Kept(dict):
    """word -> whether ``tokenize`` keeps it (memo of its filter)."""

    def __missing__(self, w: str) -> bool:
        kept = self[w] = len(w) > 1 and w not in STOPWORDS and not _DROP_RE.fullmatch(w)
        return kept


def tokenize_many(normalized_texts, segmenter: Segmenter,
                  lexicon: "_Lexicon | None" = None) -> list[list[str]]:
    """``[tokenize(t, segmenter) for t in normalized_texts]``, token for token, faster: the
    texts are cut together (``Segmenter.cut_many``) and the word filter is remembered."""
    texts = [mask_for_matching(t) for t in normalized_texts]
    kept = _Kept()
    out = []
    for text, words in zip(texts, segmenter.cut_many(texts, lexicon, blocks_only=True)):
        tokens = [w for w in words if kept[w]]
        for run in _CJK_RUN_RE.findall(text):
            tokens += ["~" + a + b for a, b in zip(run, run[1:])]
        out.append(tokens)
    return out
