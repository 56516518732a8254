"""The index build's tokeniser: ``text.tokenize`` and ``Segmenter.cut`` for many texts at once,
token for token.

Tokenising is most of an index build, and jieba's algorithm in Python spends its time per
character. Here the word graph and best routes of every distinct CJK block of a batch are
computed in numpy (jieba's dictionary as sorted integer keys per word length: ``_Lexicon``;
the backward pass over all blocks together, with jieba's float operations in its order and its
ties), and finalseg's Viterbi runs over all unknown runs at once; what stays in Python is the
walk along each block's route. Tested against jieba itself and against ``tokenize``.
"""
from __future__ import annotations

import math

import numpy as np

from .text import _DROP_RE, _EMIT, _HMM_HAN, _HMM_SKIP, _MIN, _RE_HAN, _RE_SKIP, _START, _TRANS, \
    STOPWORDS, Segmenter, mask_many, words_of_states


def cut_many(segmenter: Segmenter, texts, lexicon: "_Lexicon | None" = None,
             blocks_only: bool = False) -> list[list[str]]:
    """``[segmenter.cut(t) for t in texts]``, token for token, for an index build: the best
    routes of every distinct CJK block of the texts are found at once in numpy
    (``_routes``, looking words up in ``lexicon``, by default ``lexicon_of(segmenter)``)
    instead of character by character; the rest is ``Segmenter.cut``'s. ``blocks_only`` leaves
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
    routes = _routes(segmenter, order, lexicon or lexicon_of(segmenter))
    for i, (block, ends) in enumerate(zip(order, routes)):
        words: list = []
        waiting = len(deferred)
        segmenter._walk(block, ends, words, defer)
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

def _routes(segmenter: Segmenter, blocks: list[str], lex: "_Lexicon") -> list[list[int]]:
    """``[segmenter._route(b) for b in blocks]`` in numpy: every block's codepoints side by
    side (one empty slot after each block, where a route's score is 0), the word graph
    one word length at a time (dictionary lookups as sorted integer keys: ``_Lexicon``),
    then jieba's backward pass over all blocks together, one distance from the block's
    end at a time, with its float operations in its order and its ties."""
    if not blocks or lex.collisions:   # (two dictionary words with one hashed key)
        return [segmenter._route(b) for b in blocks]
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
                f = segmenter._freq(blocks[b][offset:offset + length])
                if f:
                    logf[i] = math.log(f)
                else:
                    word[i] = False
        cand_pos.append(active[word])
        cand_end.append(ends[word])
        cand_logf.append(logf[word])
    cand_pos = np.concatenate(cand_pos)
    cand_end = np.concatenate(cand_end)
    cand_lp = np.concatenate(cand_logf) - segmenter._logtotal   # log(f) - logtotal, as jieba
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
    fallback = 0.0 - segmenter._logtotal    # no word starts here: the character at log(1)
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

def lexicon_of(segmenter: Segmenter) -> "_Lexicon":
    """A segmenter's dictionary as sorted integer keys, for ``cut_many`` (0.2 s, 8 MB: a
    build makes one and drops it when done)."""
    return _Lexicon.of(segmenter._base_freq).with_overlay(segmenter._overlay)


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
    words = [words_of_states(chars, states) for chars, states in zip(order, _hmm_states(order))]
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


class _WordFilter(dict):
    """word -> ``test(word)``, each word tested once (a batch meets the same words again and
    again; a dict lookup is all a known word costs)."""

    def __init__(self, test):
        super().__init__()
        self._test = test

    def __missing__(self, w: str) -> bool:
        answer = self[w] = self._test(w)
        return answer


def _kept(w: str) -> bool:
    """Whether ``tokenize`` keeps a word: two characters or more, no stopword, not only
    spaces and punctuation."""
    return len(w) > 1 and w not in STOPWORDS and not _DROP_RE.fullmatch(w)


def _dropped(w: str) -> bool:
    """Whether ``words_and_tokens`` drops a word from the words (spaces, punctuation)."""
    return _DROP_RE.fullmatch(w) is not None


def kept_words_many(masked_texts, segmenter: Segmenter,
                    lexicon: "_Lexicon | None" = None) -> list[list[str]]:
    """The words of ``tokenize``'s tokens (all of them but the character bigrams, which come
    after them) of texts already through ``mask_for_matching``, cut together."""
    kept = _WordFilter(_kept)
    return [[w for w in words if kept[w]]
            for words in cut_many(segmenter, masked_texts, lexicon, blocks_only=True)]


def kept_words(masked_texts, segmenter: Segmenter) -> list[list[str]]:
    """``kept_words_many``'s words, each text cut on its own (``Segmenter.cut``): for builds
    too small to pay for the lexicon's arrays."""
    kept = _WordFilter(_kept)
    return [[w for w in segmenter.cut(t) if kept[w]] for t in masked_texts]


def words_many(normalized_texts, segmenter: Segmenter,
               lexicon: "_Lexicon | None" = None) -> list[list[str]]:
    """``[words_and_tokens(t, segmenter)[0] for t in normalized_texts]``, word for word, cut
    together (``cut_many``): the scope view's training words, cut by a build that has the
    lexicon at hand anyway (about a fifth of the CPU of cutting them one by one)."""
    dropped = _WordFilter(_dropped)
    return [[w for w in words if not dropped[w]] for words in
            cut_many(segmenter, mask_many(normalized_texts), lexicon)]

