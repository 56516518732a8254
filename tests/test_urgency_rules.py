"""The bank's urgency rule (content/README.md) as the rules read it: in progress only while the
other side is still pressing, a loss without a subject is the writer's own, and the vetoes that
keep reports, refusals, hearsay and general questions from the alarm. Every message here was
written for these tests."""
import pytest

from bot.answering.urgency import detect_urgency


@pytest.mark.parametrize("text, signal", [
    # acting now, without 电话/视频 in the message
    ("我爸这会儿在信用社柜台 要给那个理财经理汇五万", "acting_now"),
    ("我正在按那个客服说的一步一步操作 他说马上就能退款", "acting_now"),
    ("我妈此刻拿着存折在邮局排队 说要给北京的专家寄药钱", "acting_now"),
    # pressed now: chased, a deadline, a countdown, a threat of consequence
    ("那个贷款经理一直在微信上催我 说下午之前不交就取消", "pressed_now"),
    ("网页上的计时器还剩两分钟 说不充值就清空我的积分", "pressed_now"),
    ("客服说一小时内不交税费账户就冻结", "pressed_now"),
    # about to pay
    ("对方说交完就放款 我钱都准备好了 手机银行也登上了", "ready_to_pay"),
    ("我婆婆已经在去银行的路上了 说要给那个领导汇款", "ready_to_pay"),
    # a family member nobody can stop
    ("我舅要把卖猪的钱全投进那个平台 全家都劝不住", "cannot_stop"),
    ("我婶子要去给那个专家汇钱买药 咋阻止她", "cannot_stop"),
    # money already in, the withdrawal waits for a fee
    ("我在那个APP里存了四万 现在提现要先交百分之十五的个人所得税", "fee_to_withdraw"),
    ("投进去的钱显示翻倍了 客服说要先补两万保证金才能出金", "fee_to_withdraw"),
    # a demand to pay again says a payment was made
    ("交了押金以后卖家说没收到 让我再付一次", "pay_again"),
    ("对方说上次给的钱不够 这回要五千", "pay_again"),
    # a recording used to demand money
    ("那个女的录了我的视频 说不给钱就发给我同事", "extortion"),
    # a family member under someone's control
    ("我爸这几天天天往银行跑 回来也不说话 还不让我们看他的手机", "family_controlled"),
])
def test_in_progress_told_without_a_phone_call(text, signal):
    u = detect_urgency(text)
    assert u.kind == "in_progress" and signal in u.signals, u


@pytest.mark.parametrize("text, signal", [
    ("网上买狗被骗了 怎么办", "was_scammed"),          # no 我: the writer's own
    ("转帐给骗子了 现在报警还来得及吗", "was_scammed"),
    ("我被骗以后 有个自称律师的加我 说能帮我要回来", "was_scammed"),
    ("家里人被扣在那边 对方说交十万才放人", "held_abroad"),
    ("给卖家转过去后他就不回消息了", "paid_then_gone"),
])
def test_losses_told_plainly_are_the_writers(text, signal):
    u = detect_urgency(text)
    assert u.urgent and signal in u.signals, u


@pytest.mark.parametrize("text, veto", [
    # general questions about losses
    ("被骗了以后报警一般要带什么材料", "no_subject"),
    ("老年人被骗了不好意思跟子女说 这种情况多吗", "no_subject"),
    # blocked without paying anything
    ("我不肯下他给的软件 他就把我拉黑了", "no_payment"),
    # a loan never received, or goods sold on a fake platform: nothing of the writer's is in
    ("网贷说我流水不够 要先交两千解冻 才能提现到卡上", "no_payment"),
    ("卖号的钱在平台上提不出来 客服说要先交一笔保证金", "no_payment"),
    # hypotheticals anywhere in the message
    ("我就是想问问 家里老人要是被骗转了钱 先打哪个电话", "hypothetical"),
    ("那个页面让填验证码 填了会有什么后果", "hypothetical"),
    # a near-miss ends the live signals too
    ("差点就转了 对方一直催我今天之内交 我女儿把手机拿走了", "negation"),
    # a refusal after a demand
    ("买家说要先交认证费才能收款 我觉得不对劲就没交", "negation"),
    # someone outside the family
    ("我室友被人录了视频在要钱 她不敢跟家里说", "hearsay"),
])
def test_reports_refusals_and_general_questions_are_not_urgent(text, veto):
    u = detect_urgency(text)
    assert not u.urgent and veto in u.vetoes, u


@pytest.mark.parametrize("text", [
    "客服说要交两千保证金才能解冻 这是真的吗",      # a reported demand, nothing says it goes on
    "骗子一般都会催你今天之内必须转账",             # said in general
    "我正在银行排队办社保卡",                        # acting now, but nothing to do with a scam
    "女儿刚才打了我的另一个手机才发现是骗子",        # 打了 a phone is not a payment
    "别人往我卡里打了三千 说是转错了",              # money that came in
    "老人手机上怎么拦截推销电话",                    # 拦截 a call is a phone setting
    "群里让财务马上付款 我打了老板座机才知道是假的",  # checked by a call, nothing paid
    "我打了银行客服才知道那条短信是假的",            # 打了 a hotline is not a payment
    "我爸拿着存折去信用社取了养老金 买了袋面回来",    # withdrew and came home
    "网上退货卖家同意了 怎么叫快递上门来取",          # a courier, not someone for the cash
])
def test_no_false_alarm(text):
    assert not detect_urgency(text).urgent, detect_urgency(text)


@pytest.mark.parametrize("text, veto", [
    ("怎么知道自己是不是已经被骗了", "hypothetical"),
    ("家里人正在被骗的话 打96110还是110", "hypothetical"),
    ("我奶奶耳朵背 怎么防她被骗", "worry"),
    ("水费能去营业厅交吗 我怕在网上交被骗", "worry"),        # what is feared comes between
    ("我卖二手冰箱 买家说他钱付了 要我先交保证金才能收款", "their_payment"),
    ("验证码给出去以后多久会失效", "no_subject"),
])
def test_questions_about_being_scammed_are_not_a_loss(text, veto):
    u = detect_urgency(text)
    assert not u.urgent and veto in u.vetoes, u


@pytest.mark.parametrize("text", [
    "有个自称快递员的加我好友 说要给我寄东西",
    "电动车的电池被骗子换了 能报警吗",
    "网上说存钱送手机的活动 这个靠谱吗",
    "我家亲戚天天拉人头卖酒 说是直销 这算传销吗",
    # the scams' own trades
    "一千块买我银行卡", "手机挖矿每天领币", "炒外汇有人带", "跑分是干啥的", "社保卡异常 按9转人工",
])
def test_a_message_about_a_scam_never_gets_the_menu(service, text):
    assert detect_urgency(service.normalizer(text)).fraud_words
    answer = service.ask(text)
    assert answer["category"] != "none" and answer["answer"] != service.replies.menu


@pytest.mark.parametrize("text", ["孩子骗我说写完作业了", "电动车被偷了去派出所报案要带什么",
                                  "去中国银行换外汇要带啥证件", "银行卡丢了怎么挂失"])
def test_everyday_words_near_the_fraud_domain_do_not_count(text):
    assert detect_urgency(text).fraud_words is None


@pytest.mark.parametrize("text, kind, signal", [
    ("开共享屏幕的时候 对方看到了我的支付密码", "lost", "gave_code"),
    ("我之前告诉过别人验证码 现在卡里还有钱 要补救吗", "lost", "gave_code"),
    ("对象说这个理财活动只剩半小时 叫我把备用金都充进去", "in_progress", "pressed_now"),
    ("对方说今天不交手续费就作废 我已经把钱准备好了", "in_progress", "ready_to_pay"),
    ("96110的民警打电话来 说我爸可能正在被骗", "in_progress", "family_controlled"),
    ("我妈说要把存款都换成金条 今晚有人上门来取", "in_progress", "family_controlled"),
    ("网上有人说能帮我追回我被骗的钱 又要我先交两千手续费", "in_progress", "demand_again"),
    # about to pay, in other words
    ("他说急要两万交押金 我骑车往信用社去的路上", "in_progress", "ready_to_pay"),
    ("贷款那边让我存两万截图再转到监管账户 我这会就站在取款机跟前", "in_progress", "ready_to_pay"),
    ("表弟说出事了要我转五千到他朋友卡上 网银我都打开了", "in_progress", "ready_to_pay"),
    ("让我把额度借出来转给他清零 那两万我已经借出来了 还没转", "in_progress", "ready_to_pay"),
    ("对象说海关扣了给我的包裹 得交钱才放行 我在银行柜台 柜员拦着问我干啥", "in_progress", "teller_asks"),
    ("电话里说是他老战友 要借钱救急 我爸拿着存折已经出门了", "in_progress", "ready_to_pay"),
    ("让我从借呗借出来转到他们指定的账户 我刚借出来了 钱在我卡上", "in_progress", "ready_to_pay"),
    # a promised return that never came
    ("让我把卖猪的四万块转到核验账户 说三天退回来 今天第五天了还没见钱", "lost", "promised_back"),
])
def test_more_kinds_the_rules_read(text, kind, signal):
    u = detect_urgency(text)
    assert u.kind == kind and signal in u.signals, u


@pytest.mark.parametrize("text, veto", [
    ("差一点就填了密码 我儿子看见了把手机抢过去了", "negation"),
    ("那个自称客服的一直叫我开共享 我已经把那个号拉黑了", "stopped"),
    # "keep it secret" is live only while the writer goes along
    ("说是公安局的 不让我跟家里人说 现在还要我配合调查 我没敢照他说的做", "negation"),
])
def test_the_writer_ended_it(service, text, veto):
    u = detect_urgency(service.normalizer(text))
    assert not u.urgent and veto in u.message_vetoes, u
    assert not service.ask(text)["urgent"]


def test_keep_it_secret_while_the_other_side_presses_is_in_progress(service):
    u = detect_urgency(service.normalizer("说是公安局的 不让我跟家里人说 现在还要我配合调查 我该怎么办"))
    assert u.kind == "in_progress" and "keep_secret_now" in u.signals, u


@pytest.mark.parametrize("text", ["上当了怎么办", "被骗了怎么办", "我被骗了"])
def test_a_bare_i_was_scammed_gets_the_lost_steps_and_the_default_case(service, text):
    # short as they are, the category views may lean to the menu: the rule's loss holds
    # because the words are of the fraud domain, and no other case's line is nearer
    answer = service.ask(text)
    assert answer["urgent"] and answer["urgent_kind"] == "lost"
    assert answer["case_ids"][0] == "emergency-just-transferred"


@pytest.mark.parametrize("text", [
    "我担心我妈被骗了 她昨天转了两万给一个客服",     # a worry, and then a real loss
    "就怕已经被骗了 刚才转了五千过去对方就把我拉黑了",
])
def test_a_worry_does_not_hide_a_loss_told_after_it(text):
    assert detect_urgency(text).kind == "lost", detect_urgency(text)


@pytest.mark.parametrize("text, veto", [
    ("群里的老板让财务马上付款 我打电话问了老板本人才知道是假的", "verified"),
    ("我舅在网上押大小 这几天赢了三千 现在想多投点", "winning_so_far"),
    ("我妈听了几次讲座 非要买两万多的理疗仪", "wants_to_buy"),
    ("我妈要花一万多买个床垫 说睡了能治病", "wants_to_buy"),   # the sum before the thing
    ("客服说要开屏幕共享帮我操作 开这个有什么风险", "asks_risk"),
    ("有人打电话哭着说是我儿子出事了 我赶紧打给他单位 人好好的在上班", "verified"),
    ("群里的任务先垫了五十 返了六十五 要不要继续做", "winning_so_far"),
])
def test_no_loss_yet_binds_the_urgency_model(service, text, veto):
    """Kinds the n-gram urgency model alone raised: checked and found fake, winning so far, set
    on buying, asking about the risk. The veto binds the model; the answer is not urgent."""
    u = detect_urgency(service.normalizer(text))
    assert veto in u.message_vetoes and not u.urgent, u
    assert service.ask(text)["urgent"] is False


@pytest.mark.parametrize("text", [
    "我打电话问了老板才知道是假的 可是钱已经转了过去",
    "赢了两千以后想多投点 结果全输了 平台也打不开了",
    "我妈要买那个理疗仪 已经付了一万二",
])
def test_a_payment_still_counts_after_those_words(service, text):
    assert service.ask(text)["urgent"] is True


def test_typing_the_amount_is_acting_now():
    assert "acting_now" in detect_urgency("他让我转八千给他同学 我正在输金额呢").signals


def test_hanging_up_in_fright_ends_the_call():
    u = detect_urgency("说我涉嫌洗钱 我吓得挂了 他们还会打来吗")
    assert "stopped" in u.message_vetoes and not u.urgent


def test_a_credit_record_that_is_spotty_is_not_money_spent():
    # 征信花了: the credit record has too many queries, nothing was paid
    assert not detect_urgency("征信花了贷不下来 有个中介说三千块包修复").urgent
    assert detect_urgency("花了三千块找中介修复征信 钱交了人就不见了").kind == "lost"


def test_a_relative_nobody_can_stop_but_nobody_asks_for_money():
    text = "我表姐网上认识个男的 天天嘘寒问暖 人家也没要她钱 我们怎么劝她也不听"
    u = detect_urgency(text)
    assert not u.urgent and "no_payment" in u.vetoes, u
    assert detect_urgency("我表姐要把存款转给网上认识的男的 我们怎么劝她也不听").kind == "in_progress"


@pytest.mark.parametrize("text", [
    "对方说我涉案了 让我把存折的钱拿出来清查 我给挂了",
    "电话里说要把借呗的钱借出来转到监管账户 我没按他说的弄 他还在一直打",
    "做到第三单说要做完才一起返 我就没往下做了 那边一直打电话催",
])
def test_the_writer_refused_or_hung_up(text):
    u = detect_urgency(text)
    assert "stopped" in u.message_vetoes and u.kind != "in_progress", u


def test_a_plan_for_later_is_not_a_loss():
    u = detect_urgency("他说过完年就把家里存款都投进去 我说啥他都不听")
    assert u.kind != "lost" and "intends" in u.vetoes, u
    assert detect_urgency("他把家里存款都投进去了 现在平台打不开").kind == "lost"


def test_a_seller_waiting_for_a_buyers_money_has_nothing_in():
    # the buyer's "payment" waits on a withdrawal fee: the writer's money never went in
    u = detect_urgency("我把游戏号卖给别人了 对方说钱已经付了 让我去网站提现 要先交保证金才能解冻")
    assert "fee_to_withdraw" not in u.signals and u.kind != "lost", u


@pytest.mark.parametrize("text", [
    "我在柜台给闺女转学费 柜员一直问我是不是有人叫我转的",   # the teller's check, no scam
    "老伴非要买三个一万二的床垫 说能治腰 我拦不住",            # a purchase, nobody to pay
    "孩子在游戏里卖装备 买家钱转了但被冻结了 要他先交手续费才能解冻",
    "有个买家说钱已经付了 发了个截图让我先发货 我还没发",
])
def test_not_the_writers_emergency(service, text):
    assert service.ask(text)["urgent"] is False


def test_stopping_the_relative_ends_the_fresh_demand():
    u = detect_urgency("闺女付了五百以后又要运费和疫苗钱 她问我还给不给 我让她先别给")
    assert u.kind == "lost" and "stopped" in u.message_vetoes, u   # the 500 is gone, no more


@pytest.mark.parametrize("text", [
    "让我把借呗的钱都借出来转到他给的账户 我已经借出来了正准备转",
    "抽中一部手机 要先付邮费和保证金两千 我正扫他发的码呢",
    "让我先转一万到对公账户 我找老板预支了 现在就在银行门口 老板问我干啥用的我没敢说实话",
])
def test_about_to_pay_told_plainly(text):
    assert detect_urgency(text).kind == "in_progress", detect_urgency(text)


def test_paid_an_impersonated_teacher_and_asks_for_it_back_is_a_loss():
    u = detect_urgency("群里班主任说要交资料费 我就转了三百八 后来老师说没这回事 钱还能退回来不")
    assert u.kind == "lost" and "refund" not in u.message_vetoes, u


@pytest.mark.parametrize("text, veto", [
    ("她接到电话说医保卡被冒用 又转给一个警官 幸亏她跟我说了 钱还没动", "money_unmoved"),
    ("群里发链接让填银行卡号和密码 我家老头子要填 我给拦下了", "negation"),
])
def test_nothing_left_the_account(text, veto):
    u = detect_urgency(text)
    assert u.kind != "lost" and veto in u.message_vetoes, u


def test_a_code_given_is_a_loss_even_while_the_money_is_still_there():
    assert detect_urgency("十分钟前我把验证码给了个人 钱还没动").kind == "lost"


@pytest.mark.parametrize("text, kind", [
    ("他让我借钱清空额度 我已经在京东借出来三万 正准备转到他说的监管账户 他还在线上等着", "in_progress"),
    ("网上贷款交了两千会员费说交了就下款 现在app都打不开了", "lost"),
    ("说是部队司务长的让先垫三万买肉 今天送过去人家说根本没这事 那三万要不回来了", "lost"),
    ("闺女跟网友说好去柬埔寨上班 明天的机票都买好了 我们咋劝都不听", "in_progress"),
])
def test_more_ways_to_tell_it(service, text, kind):
    assert service.ask(text)["urgent_kind"] == kind
