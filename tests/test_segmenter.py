"""The index build's own segmenter and training sample: ``text.Segmenter`` re-implements
jieba's accurate mode with HMM for speed, so it is checked token for token against jieba
itself; the n-gram models' training sample bounds the build's cost at 10,000 articles without
touching the bank's models."""
import math
import random
from collections import Counter

import jieba
import jieba.finalseg
import numpy as np
import pytest

from bot.answering import engine, scope
from bot.answering.engine import BULK_MIN_TEXTS, NONE, OFFTOPIC_LINES_LIMIT, TRAIN_LINES_PER_CLASS, \
    TRAIN_LINES_TOTAL, _count_terms, _documents, _sample_indexes, _training_sample_of, \
    load_offtopic, load_terms
from bot.answering.classifier import NgramFeatures, char_ngrams
from bot.answering.bulk import _hmm_cut_many, _Lexicon, cut_many, kept_words_many, lexicon_of, \
    words_many
from bot.answering.text import _CJK_RUN_RE, USER_WORD_FREQ, Normalizer, Segmenter, \
    _base_dictionary, _hmm_cut, mask_for_matching, mask_many, tokenize, words_and_tokens
from bot.content.model import Article, load_content

ODD_TEXTS = [
    "", " ", "\r\n", "abc 123.5% hello\r\n世界 ok-go", "微信号wx_123##打款", "。。。！！",
    "我在上海市浦东新区张江高科技园区上班", "刷单返利刷单返利安全账户", "C++ & c# 50%的人",
    "有个人话佢系部队后勤嘅 要订我哋啲水果", "ａｂｃ１２３", "验证码是８８８８，別告訴別人",
    "qty qty 链接 电话号码", "囧囧囧 嘚嘚 犇骉", "a", "我", "我的",
]


def jieba_with(words) -> jieba.Tokenizer:
    """What Segmenter replaces: a private jieba.Tokenizer with our words added."""
    base = _base_dictionary()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total = dict(base.FREQ), base.total
    tokenizer.initialized = True
    for w in words:
        tokenizer.add_word(w, freq=USER_WORD_FREQ)
    return tokenizer


@pytest.fixture(scope="module")
def bank_texts(content_dir):
    articles = load_content(content_dir).articles
    engine_dir = content_dir / "engine"
    normalize = Normalizer.from_file(engine_dir / "normalize.tsv")
    offtopic = load_offtopic(engine_dir)
    terms = load_terms(engine_dir / "terms.txt")
    raw = [d[3] for d in _documents(articles, offtopic)]
    texts = raw + [mask_for_matching(normalize(t)) for t in raw] + ODD_TEXTS
    return [k for a in articles for k in a.keywords] + terms, texts


def test_segmenter_cuts_every_bank_text_as_jieba_does(bank_texts):
    words, texts = bank_texts
    segmenter = Segmenter(words)
    reference = jieba_with(segmenter.words)
    assert len(segmenter.words) > 100
    differ = [t for t in texts if segmenter.cut(t) != reference.lcut(t, HMM=True)]
    assert differ == []


def test_remembered_scores_change_no_cut(bank_texts, monkeypatch):
    """The scores a segmenter remembers (``_logp_of``, up to a limit): each text cut again
    with everything remembered, and with a memory so small it holds almost nothing, is cut
    as the first time."""
    from bot.answering import text as text_module

    words, texts = bank_texts
    segmenter = Segmenter(words)
    first = [segmenter.cut(t) for t in texts[::3]]
    assert segmenter._logp   # (something was remembered)
    assert [segmenter.cut(t) for t in texts[::3]] == first
    monkeypatch.setattr(text_module, "LOGP_CACHE", 8)
    small = Segmenter(words)
    assert [small.cut(t) for t in texts[::3]] == first
    assert len(small._logp) <= 8


def test_segmenter_without_our_words_cuts_as_plain_jieba(bank_texts):
    _, texts = bank_texts
    reference = jieba_with(())
    segmenter = Segmenter()
    assert [segmenter.cut(t) for t in texts[::7]] == [reference.lcut(t) for t in texts[::7]]


def test_our_words_change_the_cut_as_jieba_add_word_does():
    text = "他让我下载火星蓝鲸宝然后刷单返利"
    assert "火星蓝鲸宝" not in Segmenter().cut(text)
    words = ["火星蓝鲸宝", "火星蓝"]   # one a prefix of the other
    assert "火星蓝鲸宝" in Segmenter(words).cut(text)
    assert Segmenter(words).cut(text) == jieba_with(sorted(words)).lcut(text)


def test_hmm_cut_of_unknown_runs_matches_jieba_finalseg():
    """Random runs of characters, common and rare, with ASCII and digits mixed in: the
    unrolled Viterbi breaks every tie as finalseg's max over (prob, state) does."""
    rng = random.Random(5)
    alphabet = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后" \
               "犇骉猋囧嘚嫑孬甭氼靐龘爨" + "ab1２"
    runs = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
            for _ in range(3000)]
    assert [_hmm_cut(r) for r in runs] == [tuple(jieba.finalseg.cut(r)) for r in runs]


def test_segmenter_cuts_many_texts_at_once_as_jieba_does(bank_texts):
    """The build's batch path (routes and HMM in numpy over every distinct block) gives
    jieba's tokens, with our words and without."""
    words, texts = bank_texts
    segmenter = Segmenter(words)
    reference = jieba_with(segmenter.words)
    assert cut_many(segmenter, texts) == [reference.lcut(t, HMM=True) for t in texts]
    plain = jieba_with(())
    assert cut_many(Segmenter(), texts[::5]) == [plain.lcut(t) for t in texts[::5]]
    assert cut_many(segmenter, []) == [] and cut_many(segmenter, ["", " "]) == [[], [" "]]


def test_batch_words_are_the_words_of_each_texts_tokens(bank_texts, content_dir):
    """A big build's words (``kept_words_many``, every text of a batch cut together), then
    each text's character bigrams, are ``tokenize``'s tokens of the text, on every bank text."""
    words, texts = bank_texts
    segmenter = Segmenter(words)
    normalize = Normalizer.from_file(content_dir / "engine" / "normalize.tsv")
    normalized = [normalize(t) for t in texts]
    masked = mask_many(normalized)
    batch = [kept + ["~" + a + b for run in _CJK_RUN_RE.findall(text)
                     for a, b in zip(run, run[1:])]
             for text, kept in zip(masked, kept_words_many(masked, segmenter))]
    assert batch == [tokenize(t, segmenter) for t in normalized]


def test_batch_words_are_the_words_of_each_text(bank_texts, content_dir):
    """The scope view's training words, cut in a batch by a big build, are the words a query
    gets (``words_and_tokens``), and the batch leaves no memo in the segmenter."""
    words, texts = bank_texts
    segmenter = Segmenter(words)
    normalize = Normalizer.from_file(content_dir / "engine" / "normalize.tsv")
    normalized = [normalize(t) for t in texts]
    batch = words_many(normalized, segmenter, lexicon_of(segmenter))
    assert segmenter._hmm.cache_info().currsize == 0
    assert batch == [words_and_tokens(t, segmenter)[0] for t in normalized]
    assert any(w in ("我", "他", "的") for ws in batch for w in ws)   # single characters kept


def test_a_build_counts_the_same_terms_in_batches_as_one_by_one(bank_texts, content_dir):
    """Big builds tokenise in batches (bulk), small ones text by text: same vocabulary, same
    term ids and counts, in the same order."""
    words, texts = bank_texts
    texts = texts[:BULK_MIN_TEXTS - 1]   # the bank has grown past it: one by one below it
    segmenter = Segmenter(words)
    normalize = Normalizer.from_file(content_dir / "engine" / "normalize.tsv")
    one_by_one = _count_terms(texts, normalize, segmenter)
    assert _count_terms(texts, normalize, segmenter, lexicon_of(segmenter)) == one_by_one


# Texts whose normalising or masking reads their edges or mixes scripts.
EDGE_TEXTS = ["", " ", "ΟΔΟΣ", "\u0301abc", "abc\u0301", "e\u0301", "身份證號碼", "我身份证丢了",
              "ａｂｃ１２３", "http://a.cc/x", "/path more", "a.com", ".com", "13812345678", "x\u3000y",
              "  lead", "trail  ", "İstanbul", "ﬁne", "www.etc-xx.cc是", "5000元", "两千块",
              "三百", "110", "96110打来", "\x1cq\x1d", "\u00a0", "٣٤٥", "Kelvin\u212a", "a\x00b",
              "a\nb", "幹什麼", "验正码"]


def test_a_batch_is_normalised_and_masked_as_each_text_is(bank_texts, content_dir):
    """An index build normalises (``Normalizer.many``: NUL-joined) and masks (``mask_many``:
    texts with nothing to mask kept) in batches; every text comes out as it does alone,
    whatever its neighbours (the edges of one text never reach into the next)."""
    _, texts = bank_texts
    normalize = Normalizer.from_file(content_dir / "engine" / "normalize.tsv")
    rng = random.Random(5)
    for _ in range(300):
        batch = [rng.choice(EDGE_TEXTS + texts) for _ in range(rng.randint(1, 9))]
        assert normalize.many(batch) == [normalize(t) for t in batch], batch
        assert mask_many(batch) == [mask_for_matching(t) for t in batch], batch
    normalized = [normalize(t) for t in texts]
    assert normalize.many(texts) == normalized
    assert mask_many(normalized) == [mask_for_matching(t) for t in normalized]
    assert normalize.many([]) == [] and mask_many([]) == []


def _entry_terms(vocab, entries) -> list[str]:
    """A _count_terms chunk's entries as the terms they stand for."""
    out = []
    for e in entries:
        if e >= engine._BIGRAM:
            key = e - engine._BIGRAM
            out.append("~" + chr(key >> 21) + chr(key & ((1 << 21) - 1)))
        else:
            out.append(vocab[e])
    return out


@pytest.mark.parametrize("bulk", [False, True])
def test_a_build_counts_each_texts_distinct_tokens_in_the_order_they_first_occur(
        bank_texts, content_dir, bulk):
    """A text's entries are its tokens (``tokenize``) counted as a Counter counts them, in
    the Counter's order (the order a document's weights are summed in); bigrams come as
    integer keys, words as indexes into the chunk's vocabulary."""
    words, texts = bank_texts
    segmenter = Segmenter(words)
    normalize = Normalizer.from_file(content_dir / "engine" / "normalize.tsv")
    texts = ODD_TEXTS + ["重复重复重复，重复", "甲乙甲乙 甲乙", "ab甲乙cd甲乙"] + texts[:1500]
    lexicon = lexicon_of(segmenter) if bulk else None
    vocab, lengths, entries, tfs = _count_terms(texts, normalize, segmenter, lexicon)
    assert len(lengths) == len(texts) and len(entries) == len(tfs) == sum(lengths)
    at = 0
    for text, n in zip(texts, lengths):
        expected = Counter(tokenize(normalize(text), segmenter))
        assert list(zip(_entry_terms(vocab, entries[at:at + n]), tfs[at:at + n])) == \
            list(expected.items()), text
        at += n


def test_chunks_merge_into_one_id_per_term():
    """The build's term ids over the tokenising's chunks: one id per term, words and bigrams
    alike, whatever chunk it was first seen in; the vocabulary names every id's term."""
    normalize = Normalizer([])
    segmenter = Segmenter(["刷单返利"])
    chunks = [["刷单返利骗了我", "我被骗了"], ["骗了骗了刷单返利", "", "全新的一句话"], ["被骗了"]]
    ids = engine._TermIds()
    term_of, expected = engine.array("i"), []
    for chunk in chunks:
        vocab, lengths, entries, tfs = _count_terms(chunk, normalize, segmenter)
        term_of.frombytes(ids.ids(vocab, entries))
        expected += _entry_terms(vocab, entries)
    vocab = ids.finish(term_of)
    assert [vocab[i] for i in term_of] == expected
    assert len(vocab) == len(set(vocab)) == len(set(expected))
    words = [t for t in vocab if not t.startswith("~")]
    assert vocab[:len(words)] == words   # the words first, then the bigrams


def test_a_build_knows_its_number_of_documents_before_listing_them(content_dir):
    """(It starts the training process first, if the build is big enough to fork.)"""
    articles = load_content(content_dir).articles
    offtopic = load_offtopic(content_dir / "engine")
    assert engine._document_count(articles, offtopic) == len(list(_documents(articles, offtopic)))


def test_a_hashed_word_is_confirmed_by_its_string():
    """Words longer than three characters are looked up by a hash of their code points: a
    fragment whose hash is a word's is no word unless its string is."""
    segmenter = Segmenter(["甲乙丙丁"])
    text = "他说甲乙丙丁然后计算机猫坏了"
    expected = segmenter.cut(text)
    assert "甲乙丙丁" in expected
    # Were 计算机猫 a word, the cut would change: the test below can fail.
    assert "计算机猫" in jieba_with(["甲乙丙丁", "计算机猫"]).lcut(text)
    lexicon = lexicon_of(segmenter)
    keys, logf = lexicon.tables[4]
    fake = _Lexicon.keys(["计算机猫"], 4)     # not a word: pretend its key is one
    tables = dict(lexicon.tables)
    order = np.argsort(np.concatenate((keys, fake)), kind="stable")
    tables[4] = (np.concatenate((keys, fake))[order],
                 np.concatenate((logf, [math.log(USER_WORD_FREQ)]))[order])
    assert cut_many(segmenter, [text], _Lexicon(tables, collisions=False)) == [expected]
    exact = _Lexicon(lexicon.tables, collisions=True)   # the per-block fallback
    assert cut_many(segmenter, [text, "甲乙丙丁"], exact) == [expected, ["甲乙丙丁"]]


def test_batch_hmm_cut_matches_jieba_finalseg():
    rng = random.Random(9)
    alphabet = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后" \
               "犇骉猋囧嘚嫑孬甭氼靐龘爨" + "ab1２.%"
    runs = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
            for _ in range(3000)}
    assert _hmm_cut_many(runs) == {r: tuple(jieba.finalseg.cut(r)) for r in runs}
    assert _hmm_cut_many(set()) == {}


def test_ngram_features_are_fitted_as_char_ngrams_defines(content_dir):
    """The training features (document frequencies and matrix computed over integer keys in
    numpy) are what ``char_ngrams`` and ``NgramFeatures.vector`` define, line by line."""
    normalize = Normalizer.from_file(content_dir / "engine" / "normalize.tsv")
    texts = [normalize(e) for a in load_content(content_dir).articles for e in a.examples]
    texts += ["", "qty", "转了500块 app", "我", "<>《》", "骗" * 40, "验证码 验证码 qq qq"] * 2
    features = NgramFeatures.fit(texts)
    df = Counter(g for t in texts for g in set(char_ngrams(t)))
    kept = sorted(g for g, d in df.items() if d >= 2)
    assert features.vocab_list == kept
    n = len(texts)
    assert features.idf.tolist() == np.asarray(
        [math.log((1 + n) / (1 + df[g])) + 1.0 for g in kept], np.float32).tolist()
    reference = NgramFeatures(kept, features.idf)
    assert np.array_equal(features.keys, reference.keys)
    assert np.array_equal(features.key_ids, reference.key_ids)
    x = features.matrix(texts)
    for i, t in enumerate(texts):
        ids, w = features.vector(t)
        row = slice(x.indptr[i], x.indptr[i + 1])
        assert x.indices[row].tolist() == ids.tolist()
        assert x.data[row].tobytes() == w.tobytes()


def lines_of(counts: dict[tuple[str, str], int]) -> list[tuple[str, str, str]]:
    return [(f"{category}-{urgency}-第{i}句", category, urgency)
            for (category, urgency), n in counts.items() for i in range(n)]


def sampled(lines, limit: int, none_limit: int | None = None,
            total: int | None = None) -> list[tuple[str, str, str]]:
    """The lines the build's sample keeps (``_sample_indexes``)."""
    return [lines[i] for i in _sample_indexes(lines, limit, none_limit, total)]


def test_training_sample_keeps_every_line_of_a_bank_below_the_limit():
    lines = lines_of({("a", "no"): 5, ("a", "lost"): 3, ("none", "no"): 4})
    assert sampled(lines, 5) == lines


def test_training_sample_caps_each_class_stably_and_keeps_order():
    lines = lines_of({("a", "no"): 50, ("b", "no"): 8, ("a", "lost"): 30})
    sample = sampled(lines, 10)
    per_class = {}
    for _, category, urgency in sample:
        per_class[category, urgency] = per_class.get((category, urgency), 0) + 1
    assert per_class == {("a", "no"): 10, ("b", "no"): 8, ("a", "lost"): 10}
    assert sample == sorted(sample, key=lines.index)              # in the bank's order
    assert sampled(list(lines), 10) == sample                     # deterministic
    # A publish that adds a line changes the sample by at most that line in, one out.
    grown = sampled(lines + [("a-no-新的一句", "a", "no")], 10)
    assert len(set(grown) - set(sample)) <= 1


def test_one_sample_serves_both_views_as_each_was_drawn(monkeypatch):
    """The scope view's lines come from the n-gram views' sample, reordered: the same lines
    in the same order as drawing its own sample from every example, then every urgent line,
    then the off-topic lines, as it used to. Limits lowered so that both caps bite, with
    repeated lines (ties of the digest) in every class."""
    monkeypatch.setattr(engine, "TRAIN_LINES_PER_CLASS", 6)
    monkeypatch.setattr(engine, "OFFTOPIC_LINES_LIMIT", 6)   # the none class's own limit
    monkeypatch.setattr(scope, "MAX_CASE_LINES", 15)
    rng = random.Random(5)
    phrases = [f"第{i}句话" for i in range(12)]

    def article(i):
        return Article(
            id=f"a{i}", category=("a", "b", NONE)[i % 3], title="t", summary="s",
            audiences=("general",), examples=tuple(rng.choice(phrases) for _ in range(4)),
            keywords=(), sources=(), sections={}, body="", path=f"a{i}.md",
            urgent_examples=tuple((rng.choice(phrases), rng.choice(("in_progress", "lost")))
                                  for _ in range(rng.randint(0, 3))))

    articles = [article(i) for i in range(12)]
    offtopic = [rng.choice(phrases) for _ in range(9)]
    lines = [(ex, a.category, "no") for a in articles for ex in a.examples]
    lines += [(ex, a.category, kind) for a in articles for ex, kind in a.urgent_examples]
    lines = sampled(lines + [(q, NONE, "no") for q in offtopic], 6)
    drawn_apart = scope.training_lines([(t, c == NONE) for t, c, _ in lines])
    sample = _training_sample_of(articles, offtopic, Normalizer([]))
    views = list(zip(sample.texts, sample.categories, sample.urgency))
    scope_lines = list(zip(sample.scope_texts(), sample.scope_off()))
    assert scope_lines == drawn_apart and len(scope_lines) < len(views)
    assert sum(not off for _, off in scope_lines) == 15
    per_article = [(ex, a.category, u) for a in articles for ex, u in
                   [(e, "no") for e in a.examples] + list(a.urgent_examples)]
    assert views == sampled(per_article + [(q, NONE, "no") for q in offtopic], 6)


def test_the_bank_is_far_below_the_training_limit(content_dir):
    """The limit exists for 10,000-article banks; the shipped bank's models are trained on
    every line, with a quarter to spare (if this fails, the bank has grown: re-measure
    bench/cv_engine.py)."""
    counts = {}
    for a in load_content(content_dir).articles:
        counts[a.category, "no"] = counts.get((a.category, "no"), 0) + len(a.examples)
        for _, kind in a.urgent_examples:
            counts[a.category, kind] = counts.get((a.category, kind), 0) + 1
    assert max(counts.values()) * 1.25 <= TRAIN_LINES_PER_CLASS


def test_a_sample_over_the_total_lowers_every_large_class_evenly():
    """Classes over the limits: the large ones keep the same number of lines, the small ones
    all of theirs, and the sample fits the total (classes of 50, 40, 8 and 3 lines, at most 30
    each and 60 in all: 24 each of the two large ones, 59 lines)."""
    lines = lines_of({("a", "no"): 50, ("b", "no"): 40, ("c", "no"): 8, ("a", "lost"): 3})
    per_class = {}
    for _, category, urgency in sampled(lines, 30, total=60):
        per_class[category, urgency] = per_class.get((category, urgency), 0) + 1
    assert per_class == {("a", "no"): 24, ("b", "no"): 24, ("c", "no"): 8, ("a", "lost"): 3}
    assert sampled(lines, 30, total=200) == sampled(lines, 30)   # under the total: as before


def test_the_bank_is_far_below_the_total_training_limit(content_dir):
    """The shipped bank's case lines all train, with a quarter to spare."""
    articles = load_content(content_dir).articles
    assert sum(len(a.examples) + len(a.urgent_examples) for a in articles) * 1.25 <= \
        TRAIN_LINES_TOTAL


def test_no_off_topic_line_is_sampled_out_of_the_none_class(content_dir):
    """The off-topic lines are one class (none, not urgent), the bank's largest: all of them
    train the shipped models (when this fails, raise the limit or re-measure CV)."""
    assert len(load_offtopic(content_dir / "engine")) <= OFFTOPIC_LINES_LIMIT


def test_the_off_topic_class_has_its_own_limit():
    """The off-topic lines do not grow with the articles: a bank with more of them than a
    case class may hold still trains on every one."""
    lines = [(f"闲聊{i}", "none", "no") for i in range(8)] + \
        [(f"案例{i}", "fake_loan", "no") for i in range(8)]
    sample = sampled(lines, 5, 10)
    assert [ln for ln in sample if ln[1] == "none"] == lines[:8]
    assert len([ln for ln in sample if ln[1] == "fake_loan"]) == 5
    assert len(sampled(lines, 5)) == 10   # without its own limit, the same cap
