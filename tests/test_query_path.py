"""The faster paths of answering a message give what the plain ones give: zhconv's conversion,
the masked text made once, werkzeug's query args, the XML fields."""
from __future__ import annotations

import math
import unicodedata
from collections import Counter

import numpy as np
import pytest
from zhconv import convert as zhconvert

from bot.answering.text import mask_for_matching, simplify, tokenize
from bot.errors import BadRequest
from bot.wechat.protocol import parse_xml
from bot.wechat.webhook import query_args
from conftest import bank_and_dev_texts

EDGES = ["", "ａｂｃ１２３", "我幹什麼不干你事。", "乾隆皇帝", "他是家里的一份子", "身份證和身份证",
         "人工智慧換臉", "有著很多錢", "么女打電話來", "驗證碼別告訴別人", "囧犇骉", "A型肝炎",
         "發髮髮發", "后台後台", "台灣臺灣", "15%的人\r\n", "😀表情"]


@pytest.fixture(scope="module")
def texts(content_dir):
    """Every document of the bank, the development sets' messages and some edges."""
    return bank_and_dev_texts(content_dir) + EDGES


def test_simplifier_converts_exactly_as_zhconv(texts):
    for text in texts:
        for variant in (text, unicodedata.normalize("NFKC", text)):
            assert simplify(variant) == zhconvert(variant, "zh-cn"), variant
    assert simplify("我幹什麼不干你事。") == "我干什么不干你事。"


def test_views_get_the_same_masked_text_they_would_make(service, texts):
    engine = service.engine
    for text in texts[::11]:
        normalized = engine.normalize(text)
        masked = mask_for_matching(normalized)
        assert tokenize(normalized, engine.segmenter, masked) == \
            tokenize(normalized, engine.segmenter)
        ids = engine.views.features.ids(normalized, masked)
        assert ids.tolist() == engine.views.features.ids(normalized).tolist()


def _searched_query_vector(engine, normalized):
    """The retrieval's query vector with every term found by a binary search of the
    vocabulary (what ``Engine.query_vector`` did before it remembered term ids)."""
    counts = Counter(tokenize(normalized, engine.segmenter))
    terms = [t for t in counts if len(t) <= engine._width]
    if not terms:
        return np.zeros(0, np.int64), np.zeros(0)
    wanted = np.asarray(terms, dtype=engine.vocab.dtype)
    pos = np.minimum(engine.vocab.searchsorted(wanted), engine.n_terms - 1)
    known = engine.vocab[pos] == wanted
    tf = np.asarray([counts[t] for t, k in zip(terms, known) if k], dtype=np.float64)
    w = (1.0 + np.log(tf)) * engine.arrays["term_scale"][pos[known]]
    return pos[known], w / (math.sqrt(float(w @ w)) or 1.0)


def test_remembered_term_ids_give_the_searched_query_vector(service, texts,
                                                            monkeypatch):
    """Term ids remembered across messages, and a memory so small it holds almost nothing,
    give the vector a binary search per message gives, bit for bit."""
    from bot.answering import engine as engine_module

    engine = service.engine
    sample = [engine.normalize(t) for t in texts[::5]] + ["", "qty", "链接 电话号码"]
    expected = [_searched_query_vector(engine, n) for n in sample]
    for _ in range(2):   # the first time looked up, the second remembered
        for n, (tids, w) in zip(sample, expected):
            got_tids, got_w = engine.query_vector(n)
            assert got_tids.tolist() == tids.tolist() and got_w.tolist() == w.tolist(), n
    monkeypatch.setattr(engine_module, "TERM_ID_CACHE", 4)
    engine._term_ids.clear()
    for n, (tids, w) in zip(sample, expected):
        got_tids, got_w = engine.query_vector(n)
        assert got_tids.tolist() == tids.tolist() and got_w.tolist() == w.tolist(), n
    assert len(engine._term_ids) <= max(4, max(len(set(tokenize(n, engine.segmenter)))
                                               for n in sample))


def test_rules_given_the_money_request_read_as_they_would_alone(service, texts):
    """views_of finds the money request once and hands it to the rules: the same urgency as
    the rules finding it themselves (the teller and purchase vetoes read it)."""
    from bot.answering.urgency import detect_urgency, money_request

    engine = service.engine
    extra = ["我在银行柜台 柜员一直问我转给谁 对方让我先交保证金", "我奶奶非要买三千块的床垫 劝不住"]
    for text in texts[::3] + extra:
        n = engine.normalize(text)
        assert detect_urgency(n, money_request(n)) == detect_urgency(n), text


def test_query_args_read_as_werkzeug_reads_them():
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    for query in ["timestamp=1&nonce=a&signature=x", "nonce=first&nonce=second&x=",
                  "a=%E4%BD%A0%E5%A5%BD&b=+c+&c", "broken=%zz&e=%E4", "", "&&a&=b&c==d&e=f=g&",
                  "a;b=c&d=e;f", "b=+", "x=%41"]:
        environ = EnvironBuilder(path="/wechat", query_string=query).get_environ()
        expected = Request(environ).args
        assert query_args(environ) == {k: expected.get(k) for k in expected}, query
    with pytest.raises(BadRequest):
        query_args({"QUERY_STRING": b"a=\xff".decode("latin1")})   # not UTF-8


def test_xml_fields_read_as_their_text_or_all_nested_text():
    assert parse_xml(b"<xml><A><![CDATA[ x ]]></A><B>1<i>2</i>3</B><C/><D>a<!-- c -->b</D>"
                     b"<E> <![CDATA[]]]]><![CDATA[>]]> </E></xml>") == \
        {"A": "x", "B": "123", "C": "", "D": "ab", "E": "]]>"}
