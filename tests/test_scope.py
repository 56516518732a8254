"""The scope view ("about a scam at all?", scope.py): trained deterministically inside the
index, answered from the index's arrays, and used both ways by triage. Every message here was
written for these tests."""
import dataclasses

import numpy as np
import pytest

from bot.answering import scope
from bot.answering.engine import NONE, load_offtopic
from bot.answering.scope import ScopeView
from bot.answering.text import STOPWORDS, tokenize, words_and_tokens
from bot.answering.triage import TriageParams, decide
from bot.answering.urgency import detect_urgency, money_request


# Everyday procedures that share words with scams (loans, claims, school fees, refunds): the
# menu. The first five got a scam type before the scope view.
@pytest.mark.parametrize("text", [
    pytest.param("网贷的额度一直没用 会不会影响我买房贷款", marks=pytest.mark.xfail(
        strict=True, reason="fake_loan since s20's lines: the scope view at P(off-topic) 0.63 "
        "(menu at 0.65), the category model sure of fake_loan (0.96) from the credit-clearing "
        "scam's 影响以后买房 lines; eight near-domain lines on credit lines and mortgages did not "
        "hold it (README, Answer quality)")),
    "航班延误了 航空公司会赔钱吗 在哪申请",
    "二手平台卖东西 买家确认收货以后钱多久到账",
    "高考志愿怎么填 学校有老师指导吗",
    "孩子学校让买校服 在班级群里接龙就行吗",
    "保险公司理赔要本人去吗 还是能在它的APP上传材料",
    "征信上的查询记录太多了 多久能消掉",
    "车票退了 钱退回哪里",
    "我想去银行把存折换成卡 要带户口本吗",
    "养老保险一年交一次还是每月交 在哪个窗口办",
])
def test_an_everyday_procedure_gets_the_menu(service, text):
    answer = service.ask(text)
    assert answer["category"] == "none" and not answer["urgent"], answer["category"]


# The same procedures when a stranger runs them: a scam type, never the menu.
@pytest.mark.parametrize("text", [
    "有个自称社保局的人打电话说我的社保卡要升级 让我点他发的链接填银行卡号",
    "收到短信说我的医保要年审 不年审就停用 让加一个微信办理",
    "电话里说是快递公司的 我的包裹丢了 给我理赔 要我下载个会议软件",
    "对方说他是保险公司的 我的车险理赔款到了 要我在一个网页上填卡号",
    "一个陌生号码发短信 说我的养老金认证过期了 点这个链接重新认证",
    "有个人加我说能帮我把网贷额度提上去",
    "说是航空公司的 航班取消了给我退改签补偿",
    "一个老师加我微信说孩子要补课 先把报名的钱转过来",
])
def test_a_scam_dressed_as_a_procedure_does_not_get_the_menu(service, text):
    assert service.ask(text)["category"] != "none"


@pytest.mark.parametrize("text", ["金钟罩在哪里开通", "反诈APP的来电预警要怎么打开"])
def test_a_how_to_about_an_anti_fraud_tool_keeps_its_answer(service, text):
    # a procedure too, but one both category views are sure of: the scope view does not
    # overrule them (scope_min_none)
    assert service.ask(text)["category"] == "official_channels"


def test_the_scope_view_tells_the_two_sides_apart(service):
    engine = service.engine
    errand = engine.views_of(engine.normalize("航班延误了 航空公司会赔钱吗 在哪申请"))
    stranger = engine.views_of(engine.normalize("说是航空公司的 航班取消了给我退改签补偿"))
    assert errand["off_topic"] >= engine.triage.scope_threshold
    assert stranger["off_topic"] <= 0.3 < errand["off_topic"]


def verdict(categories, none_first: bool, text: str, off_topic, params=TriageParams(),
            names_a_scam: bool = True, model: np.ndarray | None = None):
    """decide() on category views that put `none` (or the first scam type) on top; ``model``:
    other category probabilities instead."""
    if model is None:
        model = np.asarray([0.6, 0.3, 0.1] if none_first else [0.3, 0.6, 0.1])
    normalized = text
    return decide(categories, np.zeros(3), model, detect_urgency(normalized), {"no": 1.0},
                  money_request(normalized), dataclasses.replace(params, model_weight=1.0),
                  len(text), off_topic, names_a_scam)


CATEGORIES = [NONE, "fake_loan", "fake_prize"]


def test_scope_sends_a_scam_type_to_the_menu_only_when_off_topic():
    text = "网贷额度不用会不会影响征信"
    assert verdict(CATEGORIES, False, text, None).category == "fake_loan"   # not consulted
    assert verdict(CATEGORIES, False, text, 0.5).category == "fake_loan"
    assert verdict(CATEGORIES, False, text, 0.9).category == NONE


def test_scope_can_keep_a_scam_from_the_menu_when_asked_to():
    # off as shipped (TriageParams.scope_scam_threshold): it read everyday messages as scams
    text = "有人在网上说能帮我提额度"
    rescue = dataclasses.replace(TriageParams(), scope_scam_threshold=0.3)
    assert verdict(CATEGORIES, True, text, None, rescue).category == NONE
    assert verdict(CATEGORIES, True, text, 0.5, rescue).category == NONE
    assert verdict(CATEGORIES, True, text, 0.1, rescue).category == "fake_loan"
    assert verdict(CATEGORIES, True, text, 0.1).category == NONE


@pytest.mark.parametrize("text", [
    "今儿个冷不冷 要不要给娃穿棉袄",
    "帮我写几句孙子十岁生日的祝福话 要喜庆点",
    "超市买的牛奶过期了 收银台给我退了钱 让我签个字 没事吧",
])
def test_everyday_messages_get_the_menu(service, text):
    assert service.ask(text)["category"] == "none"


@pytest.mark.parametrize("text", [
    "贷款公司说要先交两千保证金才能放款",    # a money request
    "这个贷款的客服是不是骗子",               # fraud words
])
def test_the_rules_keep_holding_whatever_the_scope_view_says(text):
    assert verdict(CATEGORIES, False, text, 0.99).category == "fake_loan"
    assert verdict(CATEGORIES, True, text, 0.99).category != NONE


def test_training_is_deterministic_and_the_index_carries_it(service, content_dir):
    engine = service.engine
    normalize = engine.normalize
    offtopic = load_offtopic(content_dir / "engine")
    lines = [(t, False) for a in list(engine.articles.values())[::4] for t in a.examples]
    lines += [(q, True) for q in offtopic[::4]]
    texts, labels = [normalize(t) for t, _ in lines], [off for _, off in lines]
    words = [words_and_tokens(t, engine.segmenter)[0] for t in texts]
    first = ScopeView.train(engine.views.features, texts, labels, words)
    again = ScopeView.train(engine.views.features, texts, labels,
                            [words_and_tokens(t, engine.segmenter)[0] for t in texts])
    for name, array in first.to_arrays().items():
        assert np.array_equal(again.to_arrays()[name], array), name
    assert len(first.words.vocab) > 1000   # the words are features: unigrams and bigrams
    assert any(" " in f for f in first.words.vocab.tolist())
    # The index's own view is made of its arrays, and answers like one rebuilt from them.
    assert {f"ngram_{k}" for k in first.to_arrays()} <= set(engine.arrays)
    copy = ScopeView.from_arrays(engine.views.features,
                                 {k[len("ngram_"):]: v for k, v in engine.arrays.items()
                                  if k.startswith("ngram_scope_")}, engine.segmenter)
    for text in ("社保卡丢了 去哪补办", "有人打电话说我的社保卡要升级"):
        n = normalize(text)
        assert copy.off_topic_probability(n) == engine.scope.off_topic_probability(n)
        ids, w = engine.views.features.vector(n)
        words = words_and_tokens(n, engine.segmenter)[0]
        assert engine.scope.margin(n, ids, w, words) == engine.scope.margin(n)


def test_the_query_path_cuts_a_message_once_and_the_retrieval_is_unchanged(service,
                                                                          monkeypatch):
    """views_of cuts a message once, for the retrieval (its tokens) and the scope view (its
    words); the retrieval's vector is the one it makes from the text itself, and its tokens
    are ``tokenize``'s."""
    from bot.answering import engine as engine_module
    from bot.answering.text import mask_for_matching

    engine = service.engine
    n = engine.normalize("有个自称社保局的人打电话说我的社保卡要升级 让我点他发的链接")
    masked = mask_for_matching(n)
    words, tokens = words_and_tokens(n, engine.segmenter, masked)
    assert tokens == tokenize(n, engine.segmenter)
    assert [w for w in words if len(w) > 1 and w not in STOPWORDS] == \
        [t for t in tokens if not t.startswith("~")]
    tids, w = engine.query_vector(n, masked, tokens)
    alone_tids, alone_w = engine.query_vector(n)
    assert np.array_equal(tids, alone_tids) and np.array_equal(w, alone_w)
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0])
        return words_and_tokens(*args, **kwargs)

    monkeypatch.setattr(engine_module, "words_and_tokens", counted)
    monkeypatch.setattr(engine_module, "tokenize", None)   # never called on this path
    monkeypatch.setattr(scope, "words_and_tokens", None)
    views = engine.views_of(n)
    assert calls == [n]
    monkeypatch.undo()
    assert views["off_topic"] == engine.scope.off_topic_probability(n)


def test_the_bank_trains_on_every_line_and_a_big_one_on_a_stable_sample(service, monkeypatch):
    bank_lines = sum(len(a.examples) + len(a.urgent_examples)
                     for a in service.engine.articles.values())
    assert bank_lines <= scope.MAX_CASE_LINES // 1.1   # room to grow before sampling starts
    monkeypatch.setattr(scope, "MAX_CASE_LINES", 3)
    lines = [(f"第{i}行", False) for i in range(6)] + [("闲聊", True)]
    kept = scope.training_lines(lines)
    assert len(kept) == 4 and ("闲聊", True) in kept
    assert scope.training_lines(list(reversed(lines))) == list(reversed(kept))


def test_a_line_an_editor_added_to_a_case_is_answered_with_it(content_dir):
    """加为例句 must hold even where the scope view reads the line as off-topic."""
    from bot.answering.engine import Engine, load_terms
    from bot.answering.text import Normalizer
    from bot.content.model import load_content

    engine_dir = content_dir / "engine"
    articles = load_content(content_dir).articles
    taught = "隔壁老王的狗丢了怎么找"   # off-topic to the scope view, taught to the 96110 case
    i, first = next((i, a) for i, a in enumerate(articles) if a.id == "official-96110-call")
    articles = articles[:i] + [dataclasses.replace(first, examples=first.examples + (taught,))] \
        + articles[i + 1:]
    engine = Engine(articles, load_offtopic(engine_dir), Normalizer.from_file(
        engine_dir / "normalize.tsv"), extra_terms=load_terms(engine_dir / "terms.txt"))
    views = engine.views_of(engine.normalize(taught))
    assert views["off_topic"] is None   # not consulted for a line of the bank
    # (With its word features the view learns this line too, P(off-topic) about 0.37: the
    # exception no longer has to carry it, but holds for lines the view does not learn.)
    assert engine.match(taught).category == first.category


def test_words_not_characters_tell_these_apart():
    """下载app (an app to download: what a scammer asks) and app下载 (the app's download: an
    errand) have the same character n-grams and cues, runs in another order; only the word
    bigrams differ. Trained on lines where that order carries the label, the view without
    words cannot tell the two apart, the view with them can."""
    from bot.answering.classifier import NgramFeatures
    from bot.answering.text import words_and_tokens

    scam = ["对方让我 下载app 开会", "他叫我 下载app 看直播", "客服让我 下载app 办退款",
            "有人让我 下载app 领补贴", "老师在群里让家长 下载app 交资料费"]
    errand = ["app下载 太慢 怎么办", "app下载 失败了", "app下载 不了 是手机的问题吗",
              "app下载 以后找不到图标", "app下载 要用流量吗"]
    texts = scam + errand
    labels = [False] * len(scam) + [True] * len(errand)
    words = [words_and_tokens(t)[0] for t in texts]
    features = NgramFeatures.fit(texts)
    a, b = "下载app 怎么登录", "app下载 怎么登录"
    ids_a, w_a = features.vector(a)
    ids_b, w_b = features.vector(b)
    assert np.array_equal(ids_a, ids_b) and np.array_equal(w_a, w_b)
    assert np.array_equal(scope.cue_vector(a), scope.cue_vector(b))
    chars_only = ScopeView.train(features, texts, labels, words, word_weight=0.0)
    assert chars_only.margin(a) == chars_only.margin(b)
    with_words = ScopeView.train(features, texts, labels, words)
    assert with_words.margin(a) < 0 < with_words.margin(b)


def test_a_short_message_naming_nothing_of_a_scam_gets_the_menu():
    """有人吗, 收到: too few words for the views to weigh; whatever type they put on top, the
    menu, unless the message names a scam, asks for money or has fraud words."""
    for text in ("有人吗", "收到收到", "好的 谢谢"):
        assert verdict(CATEGORIES, False, text, 0.5, names_a_scam=False).category == NONE
        assert verdict(CATEGORIES, False, text, 0.5).category == "fake_loan"
    long = "我想问一下这个事情到底应该怎么处理才好"
    assert verdict(CATEGORIES, False, long, 0.5, names_a_scam=False).category == "fake_loan"
    for text in ("被骗了", "交押金"):   # fraud words, a money request: never the menu
        assert verdict(CATEGORIES, True, text, 0.9, names_a_scam=False).category != NONE


def test_a_short_message_both_views_put_in_a_scam_type_keeps_it():
    """举报电话, 怎么防骗 name no word of the cases only (an off-topic line says 举报 too), but
    the scope view puts them in scope and the category views are sure: not the menu."""
    sure = np.asarray([0.01, 0.98, 0.01])
    assert verdict(CATEGORIES, False, "举报电话", 0.05, names_a_scam=False,
                   model=sure).category == "fake_loan"
    # the scope view unsure: too few words to weigh
    assert verdict(CATEGORIES, False, "举报电话", 0.5, names_a_scam=False,
                   model=sure).category == NONE


@pytest.mark.parametrize("text, category", [("举报电话", "report"), ("咋样防骗", "general"),
                                            ("收到", NONE), ("好的 谢谢", NONE)])
def test_short_messages_through_the_engine(service, text, category):
    assert service.ask(text)["category"] == category


@pytest.mark.parametrize("text, names", [
    ("有人吗", False), ("收到", False), ("好的 谢谢", False), ("666", False),
    ("杀猪盘", True),          # an article's keyword
    ("ETC", True),             # an ASCII keyword (the segmenter keeps only CJK ones)
    ("http://etc-xx.cc", True), ("138xxxx1234", True),   # a pasted link or number
])
def test_the_engine_knows_what_names_a_scam(service, text, names):
    engine = service.engine
    words = words_and_tokens(engine.normalize(text), engine.segmenter)[0]
    assert engine.names_a_scam(words) is names


def test_words_of_the_cases_are_never_said_off_topic():
    words = [["解冻", "金额"], ["解冻", "账户"], ["账户", "余额"], ["解冻"], ["余额", "查询"]]
    off_topic = [False, False, True, False, True]
    assert scope.case_only_words(words, off_topic).tolist() == ["解冻"]   # 账户: said off topic


def test_a_word_of_the_cases_names_a_scam_alone(service):
    """A word of the cases that is no scam term (keyword, terms.txt) names a scam as they do."""
    engine = service.engine
    terms = set(engine.segmenter.words) | {k.strip().lower() for a in engine.articles.values()
                                           for k in a.keywords}
    word = next(w for w in engine.scope.case_words.tolist() if w not in terms)
    assert engine.names_a_scam(["帮", "我", word]) and not engine.names_a_scam(["帮", "我"])


def test_how_to_report_in_the_anti_fraud_app_is_about_reporting(service):
    assert service.ask("在反诈APP上举报诈骗电话要怎么弄")["category"] == "report"
