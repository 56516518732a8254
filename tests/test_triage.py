"""Urgency kinds and vetoes, the two emergencies' first lines, never the menu when money is asked
for, determinism, and ``ask --explain``. Every message here was written for these tests."""
import numpy as np
import pytest
from click.testing import CliRunner

from bot.answering.classifier import NgramViews, char_ngrams
from bot.answering.service import AnswerService
from bot.answering.urgency import detect_urgency, money_request
from bot.cli import main
from bot.content.model import load_content

IN_PROGRESS_FIRST_LINE = "⚠️ 立即挂断电话/停止操作，不转账，不说验证码！"


@pytest.mark.parametrize("text, kind, signal", [
    ("那个说是法院的人还没挂电话，一直叫我别挂", "in_progress", "on_call_now"),
    ("我现在正在跟自称检察官的人视频，他说我的卡涉案", "in_progress", "on_call_now"),
    ("对方开着屏幕共享还在教我点下一步", "in_progress", "shared_screen"),
    ("他说不给钱就把那段视频发到我单位群里", "in_progress", "threat_now"),
    ("我刚才给那个客服转了八千块", "lost", "paid_amount"),
    ("我爸把短信验证码念给对方了", "lost", "gave_code"),
    ("我表弟去国外打工，现在被扣住回不来了", "lost", "held_abroad"),
    ("我投钱的那个理财app已经打不开了", "lost", "money_gone"),
    # told as a story, without 被骗了 or an amount after the verb
    ("在网上订了一只柯基，定金付了以后卖家就把我拉黑了", "lost", "paid_then_gone"),
    ("我老爸按那人说的去银行汇了过去，今天才觉得不对", "lost", "sent_off"),
    ("我从两个网贷借了钱都转给那个客服了", "lost", "borrowed_and_sent"),
    ("我奶奶把养老钱全转到那个理财群的账户里了", "lost", "savings_moved"),
    ("我在那个平台充了好几次，现在提现不了", "lost", "cut_off"),
    ("他说是银行的，要我手机上的验证码，我就报了", "lost", "code_given_story"),
    ("对方说先交一千押金才能发货，我交了", "lost", "did_as_told"),
    # in progress: on the line, a code asked for live, paying now, a threat
    ("那人现在还在电话上，说我的医保卡被盗用了", "in_progress", "on_the_line"),
    ("客服叫我把手机收到的六位数字念给他听", "in_progress", "code_asked_live"),
    ("我现在正准备去银行给那个账户汇钱", "in_progress", "paying_now"),
    ("我爷爷非要给那个专家打钱买药，全家都劝不住", "in_progress", "paying_now"),
    ("他说再不打钱就把我的照片发到我们村的群里", "in_progress", "threat_demand"),
])
def test_rules_name_the_kind_of_emergency(text, kind, signal):
    u = detect_urgency(text)
    assert u.urgent and u.kind == kind and signal in u.signals


def test_still_on_the_phone_and_paying_is_in_progress_first():
    u = detect_urgency("我已经转了两千，对方还在电话里叫我别挂，还要我再转")
    assert u.kind == "in_progress" and "paid_amount" in u.signals


@pytest.mark.parametrize("text", [
    "我交了两千解冻费，客服现在又说要交三千才能提现",
    "已经给了他五千，他还在要，说不给就发到我家族群",
    "充了一万进去，平台说要先交百分之十的税才能提",
    "前面转了两次了，对方说还差一单就能全部返还",
])
def test_a_loss_with_a_fresh_demand_now_is_in_progress(text):
    u = detect_urgency(text)
    assert u.kind == "in_progress", u


def test_money_that_came_to_the_writer_is_not_a_loss():
    u = detect_urgency("女儿给我打了两千块生活费")
    assert not u.urgent and "received" in u.vetoes


@pytest.mark.parametrize("text", [
    "我交了两千解冻费，又交了三千保证金，现在客服把我拉黑了",
    "对方让我交了手续费，后来又要公证费，今天再打那个电话已经停机了",
])
def test_a_loss_whose_other_side_is_gone_stays_lost(text):
    u = detect_urgency(text)
    assert u.kind == "lost" and "demand_again" not in u.signals, u


@pytest.mark.parametrize("text", ["我家狗今天跑丢了 找了一下午才找回来", "刚在地里拔了一上午草 腰疼",
                                  "儿子昨天回来了 带了好多东西"])
def test_everyday_chat_is_not_an_emergency(service, text):
    answer = service.ask(text)
    assert not answer["urgent"] and answer["category"] == "none", answer


@pytest.mark.parametrize("text, veto", [
    ("我差点就转了五千过去，幸亏挂了", "negation"),
    ("差点就把存款转过去了，儿子回来拦住了", "negation"),
    ("听说隔壁单位有人被骗了二十万", "hearsay"),
    ("【反诈提醒】凡是让你转账到安全账户的都是诈骗，已有多人被骗", "quoted_warning"),
    ("我奶奶一个人在老家 天天接推销电话 我真怕她哪天被骗了钱", "worry"),
    ("如果已经转了钱该怎么办", "hypothetical"),
    ("上周被坑的那笔网购，钱已经退回来了", "refund"),
    ("短信让我把钱转到指定账户，我没理他", "not_followed"),
    ("被骗了以后第一步做什么比较好", "no_subject"),
    ("那个警官叫我转给他两万做资金核查", "instruction"),
    ("刚才自称检察院的人一直叫我别挂，我已经挂了", "stopped"),
    ("我妈要去银行转钱给那个警官，被柜员拦下了", "stopped"),
    ("听楼下说她女儿被人骗了三万", "hearsay"),
    ("要是有人正在电话里教我转账，我该怎么办", "hypothetical"),
    ("那个警察要跟我视频做笔录，我没敢接，到现在心还跳得厉害", "negation"),
])

def test_vetoes_are_explicit_and_named(text, veto):
    u = detect_urgency(text)
    assert not u.urgent and veto in u.vetoes


@pytest.mark.parametrize("text", [
    "有人正跟我打电话，说我的银行卡涉嫌洗钱",   # 有人 is the caller, not hearsay
    "我把定期取出来转给那个人了",                # an instruction carried out (了)
])
def test_vetoes_do_not_swallow_the_writers_own_emergency(text):
    assert detect_urgency(text).urgent


@pytest.mark.parametrize("text", [
    "听说小区里有人被冒充客服的骗走了八万，这种是怎么骗的",
    "骗子是不是都会叫人别告诉家里人",
    "这个网店的商品是正品吗，只能转账付款正常吗",
    "被骗到境外园区的人国家会管吗",
])
def test_remarks_about_scams_in_general_are_not_urgent(service, text):
    assert not service.ask(text)["urgent"]


def test_a_message_wide_veto_also_silences_the_model(service):
    answer = service.ask("【反诈提醒】有人冒充客服说要退款，让你开屏幕共享，骗走了存款，请转发家人")
    assert not answer["urgent"] and answer["urgent_kind"] is None


@pytest.mark.parametrize("text, kind", [
    ("自称公安局的人现在还在跟我通电话，说我涉嫌洗钱，叫我别挂", "in_progress"),
    ("他还在电话那头等着，让我把刚收到的验证码念给他", "in_progress"),
    ("我上个礼拜给网上认识的人转了三万，现在他把我删了", "lost"),
])
def test_each_emergency_gets_its_own_first_lines(service, text, kind):
    answer = service.ask(text)
    assert answer["urgent"] and answer["category"] == "emergency"
    assert answer["urgent_kind"] == kind
    if kind == "in_progress":
        assert answer["answer"].startswith(service.replies.in_progress_steps)
        assert answer["answer"].splitlines()[0] == IN_PROGRESS_FIRST_LINE
    else:
        assert answer["answer"].startswith(service.replies.emergency_steps)
    assert "110" in answer["answer"] and answer["case_ids"]


def test_api_answer_says_which_emergency(client):
    data = client.post("/api/v1/ask", json={"q": "冒充警察的人正在跟我视频，不让我挂"}).get_json()
    assert data["urgent"] is True and data["urgent_kind"] == "in_progress"
    assert data["answer"].splitlines()[0] == IN_PROGRESS_FIRST_LINE
    data = client.post("/api/v1/ask", json={"q": "今天几号"}).get_json()
    assert data["urgent"] is False and data["urgent_kind"] is None


@pytest.mark.parametrize("text", [
    "有人说交三百块手续费就能把东西寄给我",
    "对方让我先把银行卡号和验证码发给他核对一下",
    "他要我先转五百块保证金，不然不给办",
    "说要收一笔激活费才能用",
    "不交保证金就冻结你的账户",               # negated, but a threat: a demand
    "没让我交钱 就要了验证码",                 # one request denied, the next one made
])
def test_a_money_request_never_gets_the_menu(service, text):
    assert money_request(service.normalizer(text))
    answer = service.ask(text)
    assert answer["category"] != "none" and answer["answer"] != service.replies.menu


@pytest.mark.parametrize("text", [
    "银行打电话说我的卡快到期了 让我带身份证去网点换 没让转钱也没问密码",
    "社区通知去领老年证 不需要交手续费",
    "快递员说包裹放驿站了 他没让我转账",
])
def test_money_said_not_to_be_asked_for_is_no_request(service, text):
    assert money_request(service.normalizer(text)) is None


def test_same_content_same_answers():
    """Two engines built from the same content (not shared by the in-process cache) give every
    message the same category, urgency and cases; the n-gram models come out with identical
    arrays and the scores are equal too (each index has its own segmenter). On the small bank
    (every case, a few lines each): two builds of the whole bank cost 16 s, and determinism
    does not depend on the bank's size."""
    from bot.answering.engine import Engine
    from conftest import small_content_dir

    content_dir = small_content_dir()

    first = AnswerService(None, content_dir, "https://bot.example.test", 2000)
    builder = first.builder
    again = Engine(list(first.engine.articles.values()), builder.offtopic, first.normalizer,
                   first.params, builder.terms)
    assert again is not first.engine
    a, b = first.engine.views.to_arrays(), again.views.to_arrays()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    bank = load_content(content_dir)
    questions = [e for art in bank.articles[:30] for e in art.examples[:3]] + \
        ["今天天气怎么样", "他还没挂电话，要我念验证码", "我被骗了五千"]
    for q in questions:
        x, y = again.match(q), first.engine.match(q)
        assert (x.category, x.urgent, x.urgent_kind, x.case_ids, x.score) == \
            (y.category, y.urgent, y.urgent_kind, y.case_ids, y.score), q


def test_a_tax_question_is_not_a_money_request_but_a_tax_demand_is():
    assert money_request("个税年度汇算怎么弄") is None
    assert money_request("中奖了要先交个税才能领奖")


def test_views_travel_as_arrays():
    lines = [("有人让我交保证金才放款", "fake_loan", "no"), ("贷款要先交手续费", "fake_loan", "no"),
             ("点赞返利先垫付", "order_brushing", "no"), ("我已经转了三千", "order_brushing", "lost"),
             ("今天天气好", "none", "no"), ("他还在电话里", "fake_loan", "in_progress")] * 2
    views = NgramViews.train(*(list(col) for col in zip(*lines)))
    copy = NgramViews.from_arrays(views.to_arrays())
    for text in ("放款前要交钱", "他还在电话里叫我转", "天气"):
        for x, y in zip(views.judge(text), copy.judge(text)):
            assert np.allclose(x, y)
    assert "<有" in char_ngrams("有人") and "qty" in char_ngrams("转了500")


def test_bulk_ngram_lookup_counts_what_char_ngrams_defines(service):
    """The answering path (integer keys looked up in bulk) finds exactly the known n-grams of
    ``char_ngrams``, each as often, on every line of the bank and on edge cases; the
    vector's weights are the sublinear TF-IDF of those counts."""
    from collections import Counter

    features = service.engine.views.features
    vocab = features.vocab
    bank = load_content(service.content_dir)
    texts = [t for a in bank.articles for t in a.examples[:5]] + [
        "", "   ", "我", "a", "<>《》", "app qq 转了500块 vip", "验证码验证码验证码，验证码",
        "转账\n验证码 http://x.cn 13800138000", "骗" * 300]
    for text in texts:
        norm = service.normalizer(text)
        expected = Counter(vocab[g] for g in char_ngrams(norm) if g in vocab)
        assert Counter(features.ids(norm).tolist()) == expected, text
        ids, w = features.vector(norm)
        assert ids.tolist() == sorted(expected)
        if expected:
            raw = np.asarray([(1 + np.log(expected[i])) * features.idf[i] for i in sorted(expected)])
            assert np.allclose(w, raw / np.linalg.norm(raw), atol=1e-6)


def test_explain_prints_why(tmp_path, content_dir):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\npath = "{tmp_path / "none.db"}"\n[content]\ndir = "{content_dir}"\n',
                   "utf-8")
    r = CliRunner().invoke(main, ["--config", str(cfg), "ask", "--explain",
                                  "对方说他是警察，叫我不要挂电话，去银行转钱"])
    assert r.exit_code == 0, r.output
    for needle in ("规则命中 (rules fired): on_call_now", "否决 (vetoes)", "P(urgent)=",
                   "retrieval / n-gram model / combined", "impersonate_authority",
                   "最相近的例句 (nearest examples)", '"urgent_kind": "in_progress"',
                   "是否与诈骗有关 (scope view): "):
        assert needle in r.output, needle


def test_explain_names_the_fraud_words_that_kept_the_menu_away(service):
    from bot.answering.explain import explain
    text = "那个自称客服的人是不是骗子"
    assert service.engine.views_of(service.engine.normalize(text))["verdict"].urgency.fraud_words
    assert "涉诈词 (fraud words)" in explain(service.engine, text)
    assert "涉诈词" not in explain(service.engine, "今天天气怎么样")
