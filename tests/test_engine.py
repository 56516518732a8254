"""The answer engine on messages written for these tests (not the eval set): categories,
colloquial and broken input, urgency, the off-topic menu, and the byte budget."""
import pytest

from bot.answering.service import AnswerService
from bot.storage.db import connect
from bot.storage.library import PublishedContent, bump_content_version, init_db
from bot.answering.urgency import detect_urgency
from conftest import small_content_dir


@pytest.mark.parametrize("text, expected", [
    ("有个群让我给视频点赞，一个赞三块钱，后来让我充钱做大任务", "order_brushing"),
    ("群里老师天天推荐股票 说跟着他买稳赚不赔", "fake_investment"),
    ("我在网上借钱 对方说要先交一笔保证金才能放款", "fake_loan"),
    ("自称淘宝客服打电话说我买的衣服有质量问题要给我退款", "fake_customer_service"),
    ("有人打电话说我大学时候开过校园贷 不注销会影响征信", "fake_credit_repair"),
    ("朋友圈有人卖演唱会门票 比官方便宜 要先转账", "fake_shopping"),
    ("电话里的人说他是公安局的 说我的银行卡涉嫌洗钱 要我把钱转到安全账户", "impersonate_authority"),
    ("老板微信突然加我 让我马上给一个客户转二十万", "impersonate_acquaintance"),
    ("家长群里有人冒充班主任发收款码 收资料费", "impersonate_teacher"),
    ("儿子在游戏里买装备 卖家让他扫码付款 说可以便宜卖皮肤", "game_trading"),
    ("网恋对象说有个赚钱的平台 让我也投点钱进去", "romance"),
    ("说是部队的 要在我店里订一大批货 还让我先帮他垫钱从另一家进货", "impersonate_military"),
    ("收到短信说我中了一等奖 领奖要先交个人所得税", "fake_prize"),
    ("我爸去听了个健康讲座 人家送鸡蛋 还推销保健品", "elderly_care"),
    ("短信说我的ETC认证失效了 让点链接重新认证", "fake_subsidy"),
    ("有人出钱收银行卡 一张卡给八百块 能卖吗", "card_renting"),
    ("有人招去柬埔寨打字员 月薪两万包机票", "overseas_job"),
    ("陌生美女加我微信 一上来就要跟我裸聊 这是什么套路", "sextortion"),
    ("国家反诈中心APP怎么下载注册", "official_channels"),
    ("骗子的电话号码怎么举报", "report"),
])
def test_category_of_plain_questions(service, text, expected):
    assert service.ask(text)["category"] == expected


@pytest.mark.parametrize("text", ["我想报警", "我要去报警 该怎么弄", "报警是打电话还是去派出所"])
def test_a_wish_to_call_the_police_is_answered_with_110_first(service, text):
    answer = service.ask(text)
    assert answer["category"] == "emergency"
    assert answer["case_ids"][0] == "emergency-call-police-110"
    # the title and summary lead with 110, not with how to keep evidence
    assert "110" in answer["answer"].split("识别要点")[0]


@pytest.mark.parametrize("text, case", [
    ("96110", "official-96110-call"), ("12381", "official-12381-sms"),
    ("12381发的短信是真的吗", "official-12381-sms"), ("刚才96110给我打电话了", "official-96110-call"),
])
def test_an_official_number_keeps_its_meaning(service, text, case):
    # amounts and codes are masked for matching, the official numbers are not
    assert service.ask(text)["case_ids"][0] == case


@pytest.mark.parametrize("text", ["1", "888", "666", "5201314", "95588"])
def test_a_bare_number_gets_the_menu(service, text):
    assert service.ask(text)["category"] == "none"


@pytest.mark.parametrize("text", [
    "同村的人拉我入股种核桃 每年保底给两成收益 拉人还有提成",
    "有个公司说投钱养羊 一只羊三千 年底连本带利还四千五",
])
def test_a_project_promising_fixed_dividends_is_an_investment_scam(service, text):
    assert service.ask(text)["category"] == "fake_investment"


@pytest.mark.parametrize("text, expected", [
    ("網上貸款要先交保證金才放款嗎", "fake_loan"),                    # traditional characters
    ("客服说我的帐户要注销不然影响正信", "fake_credit_repair"),        # 帐户, 正信 typos
    ("喂 那个 就是说 有个人打电话说他是派出所的 说我那个卡涉案了", "impersonate_authority"),  # voice
    ("【XX快递】您的包裹丢失，理赔请点击 http://kd-xx.cc 联系客服 0xx-xxxx5678",
     "fake_customer_service"),                                          # pasted SMS
    ("我儿子说他换号了让我加新微信 然后就找我借钱", "impersonate_acquaintance"),  # no scam word
])
def test_colloquial_and_broken_input(service, text, expected):
    assert service.ask(text)["category"] == expected


@pytest.mark.parametrize("text", [
    "今天会下雨吗", "派出所周六上班吗", "我想给家里装宽带", "你好", "电动车上牌去哪里",
    "孩子发烧了去哪个医院好", "", "？？？", "ok",
])
def test_off_topic_gets_the_menu(service, text):
    answer = service.ask(text)
    assert answer["category"] == "none" and not answer["urgent"]
    assert answer["answer"] == service.replies.menu and answer["case_ids"] == []


@pytest.mark.parametrize("text", [
    "我刚给他转了5000块 现在联系不上了",
    "验证码已经告诉对方了怎么办",
    "对方还在让我转钱 我已经转了两次了",
    "我妈被骗了三万多 钱还能追回来吗",
    "我把银行卡密码告诉客服了",
])
def test_urgent_messages_start_with_emergency_steps(service, text):
    answer = service.ask(text)
    assert answer["urgent"] and answer["category"] == "emergency"
    steps = service.replies.in_progress_steps if answer["urgent_kind"] == "in_progress" \
        else service.replies.emergency_steps
    assert answer["answer"].startswith(steps)
    assert "110" in answer["answer"] and answer["case_ids"]


@pytest.mark.parametrize("text", [
    "我没有转钱，对方还一直打电话", "差点就把验证码给他了", "同事说他花了两千块删征信记录，能信吗",
    "网贷让我先交保证金，这正常吗", "怎么防止被骗",
])
def test_not_urgent(text):
    assert not detect_urgency(text).urgent


def test_a_threat_to_send_a_recording_keeps_its_type(service):
    answer = service.ask("陌生美女跟我视频聊天 脱衣服 后来说录屏了要发给我通讯录")
    assert service.article(answer["case_ids"][0]).category == "sextortion"


def test_urgent_keeps_the_scam_type_in_its_cases(service):
    answer = service.ask("网贷说卡号填错了要交解冻费，我已经交了两千")
    assert answer["category"] == "emergency"
    assert service.article(answer["case_ids"][0]).category == "fake_loan"


def test_every_article_reply_fits_the_byte_budget(service):
    for article in service.engine.articles.values():
        for urgent in (False, True):
            text = service.compose(article, urgent=urgent)
            assert len(text.encode("utf-8")) <= 2000, article.id
            assert f"/cases/{article.id}" in text


def test_long_article_is_summarised_with_a_link(service):
    article = next(iter(service.engine.articles.values()))
    text = service.compose(article, limit=400)
    assert len(text.encode("utf-8")) <= 400 and text.endswith(f"/cases/{article.id}")


def test_new_published_case_is_answered_after_version_bump(tmp_path):
    # The small bank (every case, a few lines each): a publish builds the whole index again.
    content_dir = small_content_dir()
    db = connect(tmp_path / "bot.db")
    init_db(db, content_dir)
    svc = AnswerService(PublishedContent(lambda: db, content_dir), content_dir, "https://x.test",
                        2000, index_dir=tmp_path / "index")
    question = "有人让我用蓝鲸币给火星基地捐款"
    case_id = "invest-martian-coin"
    assert case_id not in svc.ask(question)["case_ids"]
    source = (content_dir / "cases").glob("invest-*.md").__next__().read_text("utf-8")
    new = source.split("\n", 1)[1].replace("examples:\n", "examples:\n  - " + question + "\n", 1)
    new = "---\n" + "\n".join(
        f"id: {case_id}" if ln.startswith("id:") else ln for ln in new.splitlines()) + "\n"
    db["cases"].insert({"id": case_id, "category": "fake_investment", "title": "t",
                        "source": new, "status": "published", "origin": "admin"})
    bump_content_version(db)
    assert svc.wait_until_current(timeout=60)    # built in the background, then swapped
    answer = svc.ask(question)
    assert answer["category"] == "fake_investment" and answer["case_ids"][0] == case_id


def test_a_mistyped_card_number_in_the_scammers_script_is_not_a_handed_over_code(service):
    answer = service.ask("贷款平台说我银行卡号填错了，要交钱解冻")
    assert not answer["urgent"] and answer["category"] == "fake_loan"
    assert detect_urgency("我把银行卡号填进去了，钱被转走了").urgent
