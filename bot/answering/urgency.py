"""Is the writer losing money? The rules' view of urgency, in two kinds, with explicit vetoes.

Whatever the scam type, a resident who has already paid or handed over a code (``lost``), or
who is on the phone with a scammer right now (``in_progress``), must get the emergency steps
first. The patterns are about what happened or is happening (转了/交了/给了验证码; 还没挂电话,
正在视频, 叫我不要挂), not about scam types. The learned urgency model (classifier.py) is the
other view; triage.py combines them.

Besides amounts (``paid_amount``), a loss is often told as a story: paid and then the other
side vanished (``paid_then_gone``), money sent on (``sent_off``: 汇了过去, 钱付了), borrowed and
passed on (``borrowed_and_sent``), savings moved (``savings_moved``: 把存款都转到…了), a
platform or group gone or refusing withdrawal (``cut_off``), a code read out or money missing
from the card (``code_given_story``), or a request that was carried out (``did_as_told``:
…我交了); a card handed over and kept (``card_taken``), a purchase that turned out fake
(``bought_fake``), the records of one's own transfers (``has_receipts``), an account frozen on
a gambling or investing platform (``platform_frozen``). In progress: still on the line
(``on_the_line``), asked to read out a code
(``code_asked_live``), paying or about to pay now, or a relative nobody can stop
(``paying_now``), a threat demanding payment (``threat_demand``), a family member set on
paying someone (``family_about_to_pay``).

Vetoes are explicit and reported by name, because a false alarm teaches residents to ignore
the alarm:
- ``negation``: a negation or near-miss just before the signal (没转, 还没给, 差点, 幸好);
- ``hypothetical``: 如果/万一/假如/要是 before it, or a condition (交了才能到账);
- ``hearsay``: about a third person the writer only heard of (同事说他…, 新闻里…);
- ``no_subject``: a loss with nobody in it, neither 我 nor family (被骗了第一时间做什么);
- ``quoted_warning``: a pasted warning or notice (警方提醒, 温馨提示, 转发…);
- ``refund``: the money came back (退款到账, 钱退回来了);
- ``not_followed``: an instruction the writer did not follow (让我转…我没理/拉黑了);
- ``instruction``: a loss signal that is only what someone told the writer to do (让我把钱转到
  安全账户, 先把钱转过去), unless it says it was done (了);
- ``received``: the money came to the writer (给我打了两千块生活费);
- ``worry``: a worry about a scam that has not happened (我怕她被骗): it keeps the learned
  model from raising urgency, and vetoes only the loss it names;
- ``stopped``: the call was already hung up or someone stopped the payment (被我拦下了): it
  cancels ``in_progress`` signals only (a loss before it still counts).
- ``everyday_payment``, ``lent_to_known``, ``plain_purchase``: no sign of a scam anywhere (no
  caller, platform, seller's pressure, fraud word…) in a bill paid (交了电费一百二), money lent to
  someone who says when it comes back (他说明天还我; both also without any sign of trouble), or
  a relative buying something dear (我奶奶非要买三千块的药 劝不住: it cancels ``in_progress``);
- ``claimed``: what a caller claims (打电话说我卡被盗刷了) is not a loss the writer tells;
- ``how_to_tell``: a question about the signs in general (哪些话一听就知道…, 怎么识别…);
- ``family_recipient``: a code told to one's own family (把密码告诉了老公);
- ``protective_step``: an instruction to uninstall, hang up or report, carried out.
A loss followed by a fresh demand now (``demand_again``: 又要交解冻费, 还差一单, 还在要) is in
progress, unless the other side is gone since (拉黑, 停机, 联系不上: gone after the demand; a
demand after being blocked opens it again), or the demand was met (…又转了一千). A screen share
told in the past (开了屏幕共享) before the money went is a loss.
A vetoed signal does not count, and a veto that fired anywhere in the message also keeps the
learned model from raising urgency on its own. ``in_progress`` signals are not vetoed by
``negation`` of payment: someone still on the phone who has not paid yet is the case to catch.

``money_request`` is a separate question: does the message ask the writer for money or
credentials (先交…费, 让我转账, 要验证码)? Such a message never gets the menu.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import compress

from .gates import Gates, gate_of

_NUM = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百千万几]+)"
_UNIT = r"(?:多|来)?\s*(?:万|千|百|元|块|w|k)"
# An amount: digits (not an official number like 110) with an optional unit, or a Chinese
# numeral that has a unit (两万多, 三千), or a word for money.
_MONEY = (rf"(?:(?<!\d)(?!(?:110|96110|12381|12321|120|119|122)(?!\d))\d+(?:\.\d+)?\s*(?:{_UNIT})?(?:多|来)?\s*(?:元|块钱|块)?"
          rf"|好?[一二两三四五六七八九十百千几]+{_UNIT}(?:多|来)?\s*(?:元|块钱|块)?"
          r"|(?:(?![说要让叫需才就请能])[\u4e00-\u9fff]){0,4}(?:费|(?<!收)款|金|钱))")   # (收款: collecting)
_PAY_VERBS = (r"(?:转了|转过|转给|转进|转出|转走|汇了|汇过|付了|付过|交了|交过|充了|充值了|打了|"
              r"打过去|(?<!真)(?<!确实)(?<!真的)给了(?!我)|给出去|垫了|垫付了|买了|(?<!征信)(?<!信用)(?<!数据)(?<!记录)花了|投了|投进去|借给|存了(?!(?:一)?点|些)|缴了|扫了|输了|亏了|赔进去)")
# 打了 a phone (打了老板座机才知道是假的: checked by a call) is not a payment.
_CALLED = r"(?![^，。！？!?\s]{0,6}(?:电话|手机|视频|语音|110|座机|固话|热线|客服))"
_SENT = (r"(?:(?:转|汇|付|交|充)(?:了|完|过去|出去)|打(?:了|完|过去|出去)" + _CALLED + ")")
_CODE = r"(?:验证码|验正码|验证的数字|短信码|动态码|密码|(?:六|6|四|4)位(?:数字|数|码))"
_WHO = r"(?:他|她|对方|人家|骗子|那人|那个人|客服|警察|警官|检察官|法官|领导|老板)"

# The writer's family (阿姨 is anyone's: a neighbour, a saleswoman).
# (not 一会儿/那儿/点儿, not a woman: 一个女的, 女主播, 女网友)
_FAMILY = (r"(?:家里|家人|我家|全家|老家|妈|爸|爷|奶|孩子|(?<![猪狗牛羊鸡鸭鹅兔猫])崽|(?<!洋)娃(?!哈)|(?<![那这哪会点块])儿|女(?![的人生士方主网])|老公|老婆|老伴|姐|哥|弟|妹|婆婆|公公|外婆|"
           r"外公|姥|孙|舅|(?<!阿)姨|叔|侄|甥|亲戚|对象)")

# (name, kind, pattern). Names are reported for explanations and tests.
_SIGNALS: list[tuple[str, str, re.Pattern]] = [
    ("paid_amount", "lost", re.compile(
        rf"{_PAY_VERBS}\s*(?:他|她|对方|人家|骗子|过去|进去|出去)?\s*(?:{_NUM}\s*(?:次|回|笔)?\s*)?{_MONEY}")),
    ("paid_n_times", "lost", re.compile(rf"(?:转|交|付|充|汇)了\s*{_NUM}\s*(?:次|回|笔)")),
    ("money_gone", "lost", re.compile(
        r"(?:[万千百块元]|块钱)(?:都|也|全)?(?:要不回来了|追不回来了|拿不回来了|打水漂了)|"
        r"(?:钱|款|存款|积蓄|余额|养老钱|生活费)(?:都|全|全部|已经|就)?\s*(?:被)?(?:转走|骗走|没了|划走|扣走|"
        r"取走|被骗|要不回|追不回|拿不回)|"
        # a debt run up in the writer's name (花呗还多了两万多的账)
        r"(?:花呗|借呗|白条|信用卡|微粒贷|网贷|金条)[^。！？!?]{0,6}?(?:多了|多出|被借|被刷|被贷)|"
        r"(?:平台|app|软件|网站)(?:已经|突然|现在)?(?:打不开|登不上|关了|"
        r"跑路|提不了现|提不出|不能提现|无法提现)")),
    ("was_scammed", "lost", re.compile(
        r"(?:被骗了|被骗走|上当了|受骗了|被人骗了|被他骗了|被她骗了|被坑了|遭遇诈骗|被诈骗|"
        r"骗了我(?!的?(?:邻居|同事|朋友|同学|室友|老乡|工友|们村|们小区|们单位|们厂|们这))|把我骗了|"
        r"骗走了|骗了\d|骗了[一二两三四五六七八九十几]+|(?<![正在易是怕防会])被骗(?=[\s，。！？,.!?]|$)|(?:我|俺)被骗(?:以后|后|之后|的钱)|"
        r"(?:转|汇|打|付)(?:帐|账|钱|款)?给(?:了)?骗子|"
        # demanded and paid (被要了好几次钱, 被收了三千手续费)
        r"被(?:要|收|骗)(?:了|走)[^，。！？!?]{0,6}(?:钱|费)|"
        # an offer to get the writer's money back (能帮我打官司把钱要回来) says it is gone
        r"帮我[^，。！？!?]{0,12}(?:把(?:我的)?钱(?:拿回来|要回来|追回来|追回)|追回)(?!了)(?![^，。！？!?\s]{0,8}的(?:人|公司|律师|广告)))")),
    ("gave_code", "lost", re.compile(
        r"(?:验证码|验证的数字|密码|短信码|动态码|付款码|银行卡号|卡号|身份证号|cvv|安全码|(?:短信|手机)(?:里|上)?(?:收到)?的码)(?:(?!怕|吗|会不会|要不要)[^，。！？,.!?\s]){0,8}?"
        r"(?:给|告诉|发|报|念|说|输|填|提供)(?!错|冻|扣|封|锁|停)[^，。！？,.!?\s]{0,7}了|(?:告诉|给了|发给|报给|念给)了?"
        r"(?:他|她|对方|客服|人家|骗子)?(?:验证码|密码)|(?:输了|输入了|填了|填写了)(?:银行卡|卡号|密码|验证码)|"
        r"(?:告诉|给|发给|报给|念给)过(?:别人|他|她|对方|人家)?(?:验证码|密码)|"
        r"(?:对方|他|她|骗子|人家)(?:都)?(?:看到|看见|拿到|知道)了(?:我的)?(?:支付|银行卡|取款|登录)?(?:密码|验证码|卡号)")),
    ("held_abroad", "lost", re.compile(r"(?:赎金|赎人|被扣押|被扣住|被关起来|被控制|回不来|出不来|不让回|被人看着|"
                                               r"才放人|才能回来|才让回|捞出来|"
                                               r"被骗到(?:园区|缅|柬|国外|境外|泰国|老挝)|(?:手机|护照)(?:要|会)?被(?:收|没收|扣)|逼我(?:骗人|干活|打电话|诈骗))")),
    ("shared_screen", "in_progress", re.compile(
        r"(?:开了|打开了|点了|开着|正在|还在)\s*(?:屏幕共享|共享屏幕)|(?:屏幕共享|共享屏幕)(?:还)?(?:开着|没关)|"
        # said after it (让我开那个屏幕共享 已经开了)
        r"(?:屏幕共享|共享屏幕)[^。！？!?]{0,12}?(?:已经|都|我)(?:开了|打开了|开着)|"
        r"(?:下载|装|安装)了.{0,8}(?:会议|app|软件).{0,10}(?:共享|远程|操作)")),
    ("on_call_now", "in_progress", re.compile(
        r"(?:还没挂|没挂电话|电话还没挂|电话没挂|视频还没挂|不让(?:我|她|他)?挂|叫(?:我|她|他)?(?:不要|别)挂|"
        r"(?:不要|别|不许|不准)挂(?:电话|视频)|在电话上等|电话还通着|还在(?:线上|通话)(?!记录)|"
        r"(?:正在|还在|现在在|一直在)(?:跟|和|同|给)?[^，。！？,.!?]{0,10}(?:打电话|通电话|通话|视频|语音|电话里)"
        r"(?!记录))")),
    ("happening_now", "in_progress", re.compile(
        r"(?:正在|现在|此刻|这会儿|马上就要|还在)(?:跟|和|同)?.{0,6}(?:转账|打钱|汇款|付款|共享|操作|让我转|要我转|"
        r"叫我转|被骗)|(?:还要我|又要我|还让我|又让我|还要再|又要再)"
        r"(?:马上|赶紧|立刻)?(?:转|交|付|汇|充|打钱)|(?<!刚)(?:在|去)银行(?:排队|柜台|门口).{0,10}(?:转|取|汇)(?!了|完|过|出去)")),
    ("threat_now", "in_progress", re.compile(
        r"(?:不给钱|不转钱|不打钱|不交钱|不给|不转|不付)(?:的话)?(?:就)?(?:要)?(?:把|将)?.{0,6}(?:发给|发到|曝光|公开|"
        r"散布|群发|找人|弄死|上门)|(?:限|要求|必须)我?(?:今天|今晚|明天|\d+(?:小时|分钟)|几个小时|半小时)"
        r"(?:内|之内|之前).{0,6}(?:转|交|付|打钱)")),
    # -- told as a story rather than with 被骗了/转了X元 --
    ("paid_then_gone", "lost", re.compile(
        rf"{_SENT}(?:了|完|过去|出去)?(?:以后|之后|后|才|就)?[^。！？!?]{{0,16}}?(?:不回|联系不上|找不到人|"
        r"拉黑|删了我|把我删|跑了|没影|消失|不发货|空号|打不通|才发现|才知道|发现不对|发现是假)|"
        r"(?:收了|拿了|收到)(?:我的?|她的?|他的?)?(?:钱|定金|订金|押金|货款|运费|首付)(?:就|以后|之后|后)?"
        r"[^，。！？!?]{0,6}(?:不回|跑|拉黑|联系不上|不发货|没影|消失)")),
    ("sent_off", "lost", re.compile(
        r"(?:转|汇|打|付|交|充|投)了?(?:过去|出去|进去)了|(?:汇|转|打)了过去|"
        r"(?:钱|定金|订金|押金|货款|运费|首付|保证金|会员费|赎金)(?:都|已经|也|早就|早)?(?:付|交|转|打|汇|给)了|"
        r"(?:付|转|交|汇)(?:了|完)(?:钱)?(?:之后|以后|后|才)|(?:转|汇|打|付)过去(?:了)?(?:之后|以后|后)|"
        r"(?:充|交|付)了[^，。！？!?\s]{0,4}(?:之后|以后)|"
        r"(?:前|刚|刚才)(?:转|汇|打|付)的(?:帐|账|款|钱)|"
        # said with no sum at all (已经转了 咋办)
        r"(?<![没以])(?:已经|都已经|刚|刚刚|刚才)(?:转|汇|付)了(?=$|[\s，。！？,.!?])|"
        # ... or after the sum that was asked (让我帮他打两万 … 我寻思是领导就打了)
        r"(?:转|汇|打)(?:\d|[一二两三四五六七八九十几]+[十百千万块]|钱|款)[^。！？!?]{0,40}?(?:就|也|还是|于是)(?:转|汇|打)了"
        r"(?=$|[\s，。！？,.!?])")),
    # a return promised for a day now past (说三天退回来 今天第五天了还没见钱)
    ("promised_back", "lost", re.compile(
        r"(?:退回来|退回|还给我|返还|返回来|退给我)[^。！？!?]{0,14}(?:还没见|没见着|没见到|没收到|没退|没到账|没动静|"
        r"没回来|一直没)")),
    ("borrowed_and_sent", "lost", re.compile(
        r"借(?:了|钱|出来|款)[^。！？!?]{0,12}?(?:转|打|汇|交|给)(?:给)?(?:他|她|对方|人家)?(?:了|出去|过去|走)|"
        r"(?:贷了|借了|网贷)[^。！？!?]{0,6}(?:都|全)(?:转|打|给|交)")),
    ("savings_moved", "lost", re.compile(
        r"把[^，。！？!?\s]{0,8}(?:存款|积蓄|退休金|养老钱|定期|存折|工资|钱)[^，。！？!?\s]{0,4}(?:都|全|全部)?"
        r"(?:转|取|投|打|汇|交)(?:了|过去|进去|出去|走了|(?:到|给)[^，。！？!?\s]{0,12}了)")),
    ("cut_off", "lost", re.compile(
        r"(?:把我|将我)(?:拉黑|删|踢)|(?:拉黑了我|删了我)|(?:群|平台|网站|app|软件)(?:已经|也|都)?"
        r"(?:解散|散|没|关)了|(?:充|投|存|转|赢|赚)[^。！？!?]{0,20}?(?:提不出来|提不了现|提现不了|不能提现|"
        r"无法提现|出不了金|不让提现)")),
    ("code_given_story", "lost", re.compile(
        rf"{_CODE}[^。！？!?]{{0,20}}?(?:我|她|他|老人|我妈|我爸)(?:就|也|都)?(?:发了|给了|报了|念了|说了|输了)|"
        rf"{_CODE}(?:给出去|发过去|报出去|说出去|报完|输完|发完|给完)|"
        rf"(?:说|报|念|输|发)了(?:个|一个)?(?:他|她|对方)?{_CODE}|"
        r"(?:卡里|账户里|帐户里|余额)(?:的钱)?(?:少了|没了|被转走|被扣|空了)|"
        r"(?:卡里|卡上|账户里|帐户里|微信里|支付宝里)的[^，。！？!?\s]{1,6}(?:就|都|全)?(?:被转走|被划走|被扣走|没了)|"
        r"收到(?:好几条|几条|一条|了)?(?:扣款|支出|转账|消费)(?:的)?短信|被转走了?[^，。！？!?]{0,4}钱|"
        r"绑定了(?:新卡|别人的卡|一张卡)|被(?:人)?(?:套走|刷走|划走|扣走|盗刷)了")),
    ("did_as_told", "lost", re.compile(
        r"(?:我|她|他|我妈|我爸|老人)(?:就|也|都|已经)?(?:转了|交了|付了|汇了|照做了|按他说的做了|扫了|点了确认)"
        r"(?:$|[，。！？!?\s]|但|可|结果)")),
    # -- in progress: on the phone or about to pay --
    ("on_the_line", "in_progress", re.compile(
        r"(?:现在|还|正|正在|一直)(?:在)?(?:电话|视频|语音)(?:上|里|那头|那边)|我(?:还)?没挂(?!了)|"
        r"(?:正|正在|现在正|现在|这会儿|此刻)(?:在)?(?:跟|和|同)[^，。！？!?]{0,10}(?:打电话|通电话|通话|视频|语音|聊)|"
        r"(?:正|正在|还在|一直在)(?:微信|qq|短信|群)(?:上|里)(?:给|跟|和|教|催|叫|让|要)(?:我|她|他)|"
        # the family member in the call now (我妈在电话里 对面说是检察官), not 他在电话里说 (told)
        rf"(?:我|俺|{_FAMILY})(?:现在|还|正)?在(?:电话|视频)(?:里|上)(?=$|[\s，。！？,.!?]|跟|和|同)|"
        # 有个穿警服的在跟我视频, 老伯伯现在拿着老年机在听电话
        r"(?<![不没别])在(?:跟|和|同)(?:我|她|他|我妈|我爸|老人)(?:打电话|通电话|视频|语音|通话)(?!的时候|时|之前|以前)|"
        r"(?:现在|正|还|一直|这会儿)[^，。！？!?\s]{0,8}?在(?:听|接)(?:着)?(?:电话|视频)(?!的时候|时)")),
    ("code_asked_live", "in_progress", re.compile(
        rf"(?:让|叫|要)(?:我|她|他|我妈|我爸|老人)?把?[^，。！？!?]{{0,8}}{_CODE}(?:念|读|报|说)(?:给|出来)|"
        rf"{_CODE}(?:能|可以|能不能|可不可以|要不要|该不该)(?:给|告诉|发给|报给|念给)(?:他|她|对方)(?:不|吗|么|嘛|没)?"
        rf"(?=$|[\s，。！？,.!?])|(?:能|可以|要不要|该不该)(?:给|告诉|发给|报给|念给)(?:他|她|对方){_CODE}(?:不|吗|么|嘛)|"
        rf"{_CODE}(?:他|她|对方|人家|客服)(?:在|又|还)?(?:要|问我要|找我要)(?:呢|了)?(?=$|[\s，。！？,.!?])")),
    ("paying_now", "in_progress", re.compile(
        r"(?:正在|现在正|正准备|正要|这就)(?:往|给|帮|去)?[^，。！？!?]{0,10}?(?:转账|转钱|汇款|汇钱|打钱|"
        r"充钱|充值|付款|交钱|填卡号|输卡号|扫码|扫那个码|去银行|去邮局)|"
        r"(?:正在|正)(?:往|给)[^，。！？!?]{0,12}(?:转|汇|充|打|填|付)|(?:正在|现在正|正准备|正要|这就)(?:付|转|交|汇)(?:了)?(?=$|[\s，。！？,.!?]|呢)|"
        r"(?:拦|劝|拉|管)(?:都|也)?(?:拦|劝|拉|管)?不住|非要[^，。！？!?]{0,10}(?:转|汇|打钱|交钱|打款|去银行)|"
        r"(?:现在|马上|今天|正在|正|还在)(?:就)?(?:要|让|叫|催|逼)(?:我|她|他|我妈|我爸|老人)"
        r"(?:马上|赶紧|立刻|先)?[^，。！？!?]{0,12}?(?:转|打钱|(?<!外)汇|交|充|付|垫|去银行|下载|下个|开共享|输|填|扫|删)|"
        r"(?:马上|现在|正|这就)(?:要)?去(?:银行|邮局|柜台|取款机|atm|营业厅)[^，。！？!?]{0,12}(?:转|汇|取|打|交)|"
        r"一心(?:要|想)[^，。！？!?]{0,6}(?:转|汇|打钱|投)")),
    ("threat_demand", "in_progress", re.compile(
        r"(?:不然|否则|再不|不给钱?|不交钱|不打钱|不转钱)(?:的话)?(?:就|要)?[^，。！？!?]{0,8}(?:发到|发给|曝光|公开|"
        r"打断|撕票|卖到|卖去|卖了|卖掉|弄死|上门|抓)|敢报警就|撕票|(?:卖到|卖去)(?:别的|其他|另外)")),
    ("keep_secret_now", "in_progress", re.compile(
        r"(?:让|叫|要|不许|不准)(?:我|她|他|我妈|我爸)?(?:别|不要|不能|不准|不许)?(?:告诉|跟|和)(?:家里人|家人|"
        r"别人|任何人|老公|老婆|孩子|子女).{0,6}(?:说)?.{0,10}(?:现在|正在|还在)")),
]

# -- in progress, told without 电话/视频: acting now, pressed now, about to pay, unstoppable --
_NOW = r"(?:正在|这会儿|此刻|此时|现在就|现在正|现在还在|现在在|还在|已经在|一边)"
_SIGNALS += [
    ("acting_now", "in_progress", re.compile(
        _NOW + r"[^，。！？!?没不别]{0,16}?(?:转账|转钱|汇款|汇钱|打钱|充钱|充值|付款|付钱|交钱|取钱|取出来|"
        r"往[^，。！？!?]{0,10}(?:转|充|汇|打|存)|填(?:银行)?卡|填(?:信用卡|验证码|密码)|"
        r"输(?:入)?(?:了)?(?:卡号|密码|验证码|验正码|支付密码|金额|钱数)|报(?:身份证|卡号|验证码|密码)|"
        r"念(?:验证码|卡号|数字)|扫[^，。！？!?]{0,4}码|按[^，。！？!?]{0,10}(?:说的|操作|教的|短信|提示|步骤|链接)|照着|"
        r"(?:去|在)[^，。！？!?]{0,4}(?:银行|信用社|邮局|柜台|取款机|atm|柜员机|公证处)|插卡|借钱|借网贷|"
        r"凑钱|找人借|签(?:合同|字|委托)|按手印)")),
    ("pressed_now", "in_progress", re.compile(
        r"(?:一直|不停|还在|又在|正在|现在)(?:在)?(?:微信上|电话里|qq上|群里|线上|那边)?(?:一个劲)?(?:催|逼)|"
        r"催(?:得很?紧|个不停)|倒计时|计时器|在等(?:着)?我|等着(?:我|她|他|老人)(?:把|转|交|付|打|扫|刷|签)|"
        r"(?:(?:今天|今晚|明早|明天|\d+点)(?:之内|之前|内|前)|"
        r"[一二两三四五六七八九十半几\d]+(?:个)?(?:分钟|小时|钟头)(?:之内|以内|内))"
        r"(?:不|要|必须|得)?(?:把[^，。！？!?]{0,6})?(?:交|转|付|补|打|充|入金|汇)|"
        r"只剩[^，。！？!?]{0,3}(?:分钟|小时|钟头|天)|"
        r"(?:不|再不)(?:交|转|付|充|补|打钱|给钱)(?:钱|的话)?(?:就|要)(?:要)?(?:扣|冻结|清零|作废|违约|封|坐牢|"
        r"抓|起诉|上门|拉闸|没了|取消|全没)|"
        # pay more or the money paid before is lost (不转之前的钱就拿不回来)
        r"(?:不|再不)(?:交|转|付|充|补)(?:的话)?(?:之前|前面|以前|上次)的钱(?:就|都|也)(?:拿不回|要不回|退不了|取不出|提不了|提不出|没了)")),
    ("ready_to_pay", "in_progress", re.compile(
        r"钱都?(?:准备好了|输好了|凑好了)|把钱(?:都)?(?:准备好|凑齐|取出来)了?|要给骗子(?:转|汇|打)|(?:已经|都|刚)(?:打开|登上|登录|插上)了?(?:网银|手机银行|转账页面|付款页面)|"
        r"(?:打开|登上|登录|插上)了(?:网银|手机银行|转账页面|付款页面)|卡(?:刚|已经|都)?插(?:到|进)(?:了)?(?:atm|取款机|柜员机|机器)|"
        r"(?:网银|手机银行|网银盾|u盾)(?:已经)?(?:登上|插上|打开)了|(?:在|到了|开着)(?:转账|付款)页面|"
        r"(?:在|正在)去(?:银行|邮局|信用社)|去银行的(?:路上|车上)|掏出(?:了)?(?:银行)?卡|插(?:了)?卡了|"
        r"(?:去|往)[^，。！？!?\s]{0,4}(?:银行|信用社|邮局|柜员机|取款机|atm)(?:去)?的(?:路上|车上)|"
        r"(?:站在|就在|正在|现在在|人在)(?:取款机|柜员机|atm|自助机)(?:跟前|前面|前|旁边|边上)|"
        r"(?:网银|手机银行|转账页面|付款页面|u盾)[^，。！？!?\s]{0,3}(?:都|已经|也)(?:打开|登上|登录|插上)了|"
        r"(?:借|贷|取)出来了?[^。！？!?]{0,8}(?:(?:还没|没)(?:转|给|交|汇)|钱(?:还|就)?在(?:我的?)?(?:卡|手)上|正?准备转)|"
        r"(?:我|她|他|现在)(?:就|已经|现在)?(?:就)?在(?:银行|信用社|邮局)(?:门口|柜台|里面|排队)|"
        r"(?:我|她|他)正(?:在)?(?:扫|转|填|输|付|汇)[^，。！？!?]{0,6}(?:码|钱|卡号|密码|账|款)|"
        r"(?:拿着|揣着|带着)(?:存折|银行卡|卡|现金|钱|户口本)[^，。！？!?]{0,6}(?:出门|出去|去银行|去信用社|走了)|"
        r"准备(?:付|转|汇|交)了|人(?:就|已经|现在)?在银行(?:门口|柜台|里|排队)|(?:填好|输好|写好)(?!了)[^，。！？!?]{0,4}(?:账户|帐户|卡号|金额|账号)|"
        r"就差(?:点)?(?:确认|付款|转账|输密码|最后一步|按确认|点确认)|"
        # the payment app open, the car at the bank's door (我支付宝开起的, 车都开到银行门口了)
        r"(?:支付宝|网银|手机银行|付款码|付款页面|转账页面)(?:都|已经)?(?:开起的|开起了|开着的?|打开了|开好了)|"
        r"(?:开到|走到|到了|来到|骑到|已经到)(?:了)?(?:银行|信用社|邮局)(?:的)?(?:门口|跟前|外面)|"
        r"(?:我|俺)(?:现在|正)?在[^，。！？!?\s]{0,6}买(?!了)[^，。！？!?\s]{0,4}(?:充值卡|购物卡|点卡|礼品卡|游戏卡)|"
        # in the middle of it (我正扫着, 正下载呢, 卡号填一半了)
        r"正(?:在)?(?:扫|转|填|输|付|汇|下载|下|装|弄)(?:着|呢)(?![^，。！？!?]{0,8}反诈)|(?:填|输|转|弄)(?:了|到)?一半")),
    # at the counter, the teller asking why (柜员拦着问我干啥): read only with a money request
    ("teller_asks", "in_progress", re.compile(
        r"柜员[^，。！？!?]{0,4}(?:拦着|拦我|问我|一直问|不让|劝我|要我说)|(?:柜台|银行)[^，。！？!?]{0,6}(?:拦着|不让转|不给转)")),
    ("cannot_stop", "in_progress", re.compile(
        r"劝不住|拦不住|劝不动|拉不住|拦得住(?:不|吗|么)|(?:怎么|咋|怎样)(?:说|劝)都不听|(?:说|劝)(?:他|她)也?不听|"
        # 怎么拦/阻止 a person, not 怎么拦截骚扰电话 (a phone setting)
        r"(?:怎么|咋)(?:拦(?!截)|阻止)(?![^，。！？]{0,6}(?:电话|来电|短信|号码|骚扰|推销))|"
        r"(?:还|都|就是)不(?:相信|信|听劝)|还(?:在)?(?:信|相信)(?:他|她|对方|骗子|那个)|抢不下|不肯停|叫(?:她|他)也不出来|(?:她|他)不开门|不让我们(?:跟着|靠近|看)|追不上(?:他|她)")),
]
# Money already on a platform whose withdrawal now waits for a fee (提现要先交税, 交保证金才能解冻):
# a loss with a fresh demand, so in progress. Not a loan never received (交解冻金才能放款).
_SIGNALS.append(("fee_to_withdraw", "in_progress", re.compile(
    r"(?:提现|出金|提不出|提不了|取不出|提出来|提款|解冻)[^。！？!?]{0,16}?(?:要|得|需要|必须|说)(?:先|再)?"
    r"(?:交|补|充|缴|付)(?!了|过|完)|(?:要|得|需要|必须)(?:先|再)?(?:交|补|充|缴|付)[^。！？!?]{0,14}?"
    r"(?:才能|才可以|才给|才)(?:把[^，。！？!?\s]{0,8})?(?:提现|出金|解冻|提|取出|取|出来)")))
_SIGNALS += [
    # a demand to pay again says a payment was made (要我再付一次, 重付, 上次给的钱不够)
    ("pay_again", "in_progress", re.compile(
        r"(?:再|在|重新|又要?)(?:付|交|转|充|给|打)(?:一次|一笔|一遍|最后一次|同样的)|重付|重新(?:付|交|转|充)(?!了)|"
        r"上次给的钱|又要借|又来借|(?:再|又|还要)(?:补|做|刷)(?:一单|一笔|一次|最后一单)")),
    # a recording or photos used to demand money (录了视频在要钱, 把我的视频发给同事了)
    ("extortion", "in_progress", re.compile(
        r"(?:录了|录屏|录下|录像|裸照|我的视频|那段视频|视频截图|私密照)[^。！？!?]{0,24}?(?:(?<!没)(?<!没开口)(?<!没说)要钱|要(?:\d|[一二两三四五六七八九十几]+[千万百])|"
        r"发给(?:了)?(?:我)?(?:的)?(?:一个|几个|好几个)?(?:朋友|同事|家人|亲戚|好友)|发到(?:我)?(?:的)?(?:家族群|朋友圈|群里)|"
        r"一起发过来)|通讯录[^。！？!?]{0,6}(?:发过来|发给我|拿到了|读走了|都有了)")),
    # a family member under someone's control (配合办案 每天去银行, 不让我看手机, 把钱换成现金)
    ("family_controlled", "in_progress", re.compile(
        r"(?:这两天|这几天|每天|天天|一直|老)(?:往银行跑|去银行|出门去银行|关着门|躲着)|不让我(?:们)?看(?:他的|她的)?手机|"
        r"换成现金|(?:现金|钱|存款|金条|黄金)[^。！？!?]{0,10}上门来取|上门来取(?:现金|钱)|一个人出去住|"
        rf"{_FAMILY}[^。！？!?]{{0,40}}说(?:要|得|必须)配合(?:什么)?(?:调查|办案|公安|警察)|不(?:能|让)(?:让)?我们(?:听|进)|"
        r"(?:96110|反诈中心|民警)[^。！？!?]{0,12}(?:说|提醒)[^。！？!?]{0,6}(?:可能)?(?:正)?在被骗|配合(?:公安|警方|警察)?(?:办案|调查|清查)[^。！？!?]{0,12}(?:银行|取钱|转钱|不让|不说)")),
]
_SIGNALS += [
    # a card or document handed over and kept (办完卡他就拿走了): it is in someone else's hands
    ("card_taken", "lost", re.compile(
        r"(?:卡|银行卡|手机卡|电话卡|u盾|存折)[^，。！？!?]{0,3}(?:他|她|对方|人家|那人)?(?:就|都|也)?(?:被)?"
        r"(?:拿走|收走|带走|拿去用)(?:了|过)|"
        r"(?:卡|身份证|房产证|存折|户口本)[^，。！？!?\s]{0,6}(?:都|也)?在(?:别人|他|她|对方|人家|那个[^，。！？!?\s]{0,6})"
        r"(?:那|手里|手上)|(?:房子|房产|车)被(?:人)?(?:抵押|过户|卖|开走)")),
    # bought, and what came is fake (买的票…说是假的)
    ("bought_fake", "lost", re.compile(r"买的[^。！？!?]{0,16}(?<!是不)(?<!不像)(?<!不会)(?:说是|是)假(?:的|货)(?![吗么呢])")),
    # the writer holds the records of own transfers to a scammer (我有他的转账记录)
    ("has_receipts", "lost", re.compile(
        r"我(?:这|这里|手里|手上)?(?:有|留着|保存了|存着|截了)[^，。！？!?]{0,8}(?:转账|转帐|汇款|付款)(?:记录|截图|凭证|单)")),
    # an account on a gambling or investing platform frozen (网站说我帐户违规 冻结了)
    ("platform_frozen", "lost", re.compile(
        r"(?:网站|平台|app|软件|提现)[^。！？!?]{0,14}(?:冻结了|被冻结|封了|被封|封号)")),
    # a family member set on paying someone (我婆婆又说要往一个软件里转钱)
    ("family_about_to_pay", "in_progress", re.compile(
        rf"{_FAMILY}[^。！？!?]{{0,30}}(?<![让叫要])(?:又|还|非|硬|执意|一定)?(?:说)?要(?:去)?(?:往|给)(?!我)"
        r"[^，。！？!?]{0,12}?(?:骗子|对方|那个|一个|网友|客服|警察|警官|平台|软件|app|网站|账户|帐户|老师|导师|"
        r"大师|公司|项目|说是|自称|陌生)[^，。！？!?]{0,10}?(?:转|汇|打钱|打款|充|投)|"
        rf"{_FAMILY}[^。！？!?]{{0,12}}要去(?:买|交|转|汇|投)[^。！？!?]{{0,16}}(?:已经出门|出门了|在路上)|"
        r"又去[^，。！？!?\s]{0,6}(?:借钱|借网贷|凑钱)")),
]
# Someone who cannot come back (回不来) is held abroad only where the message says so: a son kept at
# the factory over New Year (儿子过年回不来了) is not; nor is the fear of it (去了就回不来了).
_CANNOT_RETURN = re.compile(r"回不来|出不来|不让回|才能回来|才让回")
_ABROAD = re.compile(r"境外|国外|出国|海外|缅|柬|泰国|老挝|菲律宾|迪拜|越南|马来|印尼|东南亚|园区|边境|偷渡|护照|蛇头|"
                     r"赎|扣押|扣住|被扣|控制|关起来|被关|不让走|被卖|卖到|要钱|交钱|拿钱|打钱|转钱|那边")
_FEARED_RETURN = re.compile(r"(?:去了?|到了|过去了?)(?:就|都|会|可能|怕)*$|(?:怕|担心|会不会|万一|容易|可能)(?:会|就)?$")
# The writer's own card lent, rented or sold (把银行卡借他用了一个礼拜给了两千): the money given in
# such a story is the rent paid to the writer, not a loss.
_CARD_LENT = re.compile(r"(?:银行卡|卡|电话卡|手机卡)(?:借|租|卖)(?:给)?(?:他|她|别人|人|老乡|朋友|同学|工友|那人)|"
                        r"(?:出借|出租|出售|借出|租出|卖了|借了|租了)(?:我的?|自己的?)?(?:银行卡|电话卡|手机卡)")
# The first time (第一回给了她十块钱): a task's first payout, paid to the writer or the relative.
_FIRST_TIME = re.compile(r"(?:(?:第一|头一?)(?:回|次|单|笔|个)|(?:一|刚)?开始(?:是|的时候|时)?|前(?:几|两|三)(?:次|单|回))"
                         r"(?:就|先|都|也)?\s*$")
_THERE_NOW = re.compile(r"现场|正在|这会儿|此刻|现在就|马上就|已经在|跟前|等着(?:她|他|我|老人)?(?:刷|付|交|扫|签)")
_NO_MONEY_ASKED = re.compile(r"(?:没|没有|从没|从来没|又没|也没)(?:要|让|叫|问)(?:过)?(?:她|他|我|我们|你)?(?:一分钱|钱|一毛|转钱|投钱|汇钱)")
_LOAN = re.compile(r"放款|贷款|借款|下款|网贷|额度|借钱|卖号|卖装备|卖东西|卖货|买家|卖给|卖掉|出售|"
                   r"卖[^，。！？!?\s]{0,4}(?:号|装备|皮肤|账号|帐号)")   # nothing of the writer's in
_MONEY_IN = re.compile(r"充|投|存|转|交了|买|入金|赚|赢|本金|余额|收益|账户|帐户|平台|押|下注|认购|申购|股票|持仓|"
                       r"卡单|补单|一单|做单|任务")
# ... unless said in general (骗子一般都会催你今天内转账)
_GENERAL = re.compile(r"一般|通常|都会|是不是都|凡是|骗子(?:都|常|总)|哪些|什么样的|常见")
# A question about what such callers do, to a general "you" (检察院的人会不会打电话叫你配合调查): no
# one's call is on now.
_ASKED_OF_YOU = re.compile(r"(?:会不会|会|是不是|真的会|一般)[^，。！？!?\s]{0,10}(?:叫|让|要|跟|给)(?:你|您)")
_LIVE_SIGNALS = {"acting_now", "pressed_now", "ready_to_pay", "cannot_stop", "teller_asks", "pay_again", "extortion",
                 "family_controlled", "keep_secret_now", "family_about_to_pay"}

_DEMAND_SIGNALS = {"pay_again", "fee_to_withdraw"}   # in progress by a demand to pay again
_PAID_AGAIN = re.compile(r"又(?:转|交|付|汇|充|打)了")   # ... met (她又转了一千)
_PAST_SCREEN = re.compile(r"开了|打开了|点了|下载|装|安装")
# A fresh demand after a loss (only read when a loss signal fired): 又要/还要/再交/还差一单/
# 还在要/又来要/要先交…才能/重新付/赶紧打钱.
_DEMAND_AGAIN = re.compile(
    r"(?:又|还|再|现在又|现在还)(?:说|在)?(?:要|让|叫|催|逼|得|需要)(?:我|她|他|我们|家里|俺|你)?"
    r"(?:先|再|马上|赶紧|立刻|去)?[^，。！？!?]{0,6}?(?:交|转|付|充|汇|输|借|凑|发|填|报(?!名|警|案)|念|打钱|打款|给钱)(?!了|过|完)|"
    r"(?<![他她])再(?:交|转|付|充|汇|输|凑|打)(?!了|过|完)|(?:又|还)(?:在)?要[^，。！？!?]{0,6}(?:费|钱|万|千|百|\d)|"
    r"又来要|还在要|还在催|还差[一两二三几\d]*(?:单|笔|次|个任务)|重新(?:付|转|交|输|充)(?!了|过)|"
    r"(?:要|得|需要|必须)先?(?:交|付|转|充)[^，。！？!?]{0,12}(?:才能|才可以|才给|才放|才退)|"
    r"说(?:要|得|需要|必须)先(?:交|付|转|充)(?!了|过)|要不要(?:再|继续|接着)?(?:交|转|付|投|充|汇)|"
    r"(?:还|再)?(?:交|转|付|投|充)不(?:交|转|付|投|充)|(?:也|还)要(?:转|交|付|汇|充)|来要钱|又要钱|"
    r"(?:赶紧|快点?|马上|立刻)(?:打钱|转钱|汇钱|给钱|交钱|凑钱)|(?:那边|对方|他们|骗子)(?:在|又)?要钱|"
    r"又[^，。！？!?]{1,8}?(?:说)?(?:要|让|叫)(?:我|她|他)?(?:交|转|付|充|汇)(?!了|过|完)|要在(?:交|转|付)|"
    r"(?:让|叫|要)(?:我|她|他)?再(?:去)?(?:借|凑|交|转|付|充|汇)|"
    r"(?:又|还|再)(?:要|让|叫|问)(?:我|她|他)?[^，。！？!?]{0,4}(?:验证码|验正码|密码|短信码)|要不要多(?:投|充|转|交)")
# A demand without 又/还/再 is a fresh one only when told after the loss (被骗了…现在要我交个解冻费);
# before it, it is the demand that was paid (让我交五千保证金 我交了).
_PLAIN_DEMAND = re.compile(r"(?:要|让|叫)(?:我|她|他|我们)?(?:先|再)?(?:交|付|转|充|汇)[^，。！？!?]{0,4}(?:费|钱|金)|"
                           r"(?:要|让|叫)(?:我|她|他)(?:先|再)?(?:下载|下个|装|安装|开共享|共享屏幕|扫)")
# ... unless the other side is gone already: then nobody is asking any more.
_GONE = re.compile(r"拉黑|停机|空号|打不通|删了|把我删|消失|跑了|找不到人|人找不到|联系不上|没人理|不回(?:我|消息|了)|没见着|"
                   r"没见到|到现在|才知道|才发现|上当了|没退")

# Signs of a scam or of trouble anywhere in a message. A payment of an everyday bill (交了电费一百二),
# money lent to someone who says when it comes back (他说明天还我) or a relative buying something
# dear (我奶奶非要买三千块的药) with none of them is everyday life: the named vetoes
# ``everyday_payment``, ``lent_to_known`` and ``plain_purchase``.
_SCAM_SIGN = re.compile(
    r"骗|诈|上当|冒充|自称|可疑|不对|奇怪|假的|是假|陌生|网友|网上|客服|平台|网站|链接|二维码|app|软件|群里|"
    r"验证码|密码|卡号|共享|安全账户|警察|警官|公安|检察|法院|领导|老板|老师|导师|大师|专家|讲座|推销|销售|店员|"
    r"直播|主播|中奖|返利|刷单|投资|理财|分红|稳赚|保本|回报|能治|治百病|包治|神药|特效|保健品|短信|电话|视频|"
    r"解冻|保证金|手续费|(?<!住院)押金|定金|订金|赎|扣押|境外|缅|柬|对方|那个人|那人|人家|说是|上门|别告诉|不要告诉|保密|"
    r"优惠|最后一天|名额|限时|限量|特价|签单|会员|现场|推介|体验店|会场|监管|额度|清零|清空|征信|账户|帐户|线上|"
    r"(?:让|叫|逼|催)(?:我|他|她|老人|我妈|我爸)?(?:交|付|转|买|刷)|要(?:我|他|她|老人|我妈|我爸)(?:交|付|转|买|刷)")
_TROUBLE = re.compile(
    r"不回|没回|拉黑|删了|删我|联系不上|找不到|打不通|关机|停机|空号|没到账|没收到|没发货|才发现|才知道|发现|"
    r"怎么办|咋办|咋整|怎么弄|怎么处理|急|救命|帮帮|求求|追回|追不回|要回|要不回|拿回|拿不回|退回|冻结|止付|"
    r"报警|报案|110|没交上|没充上|没到|注销|没来|不见|别告诉|不要告诉|赶紧|马上|怕|担心|催")
_EVERYDAY = re.compile(r"电费|水费|燃气费|煤气费|天然气费|话费|物业费|房租|网费|宽带费|暖气费|取暖费|停车费|"
                       r"挂号费|住院|医药费|伙食费|学杂费|买菜|菜钱|饭钱|车费|油费|加油|超市|菜市场|外卖")
_REPAY = re.compile(r"还我|还给我|就还|会还|再还|(?:下(?:个)?月|明天|后天|过几天|过两天|月底|年底|发了?工资)(?:就)?还")
_PURCHASE = re.compile(r"买|换(?:个|台|部|辆|一)")
# Money that came to the writer (儿子给我转的钱, 闺女给我打了两千)
_TO_ME = re.compile(r"(?:给|转给|打给|寄给)(?:我|俺)(?:转|打|汇|寄)?的(?:钱|款|生活费)|"
                    r"给(?:我|俺)(?:转|打|汇)了?(?:\d|[一二两三四五六七八九十几]+[十百千万块]|钱|生活费)")
# ... not one paid for and the seller gone (充了六千 那个卖家现在找不到了)
_SELLER_GONE = re.compile(r"找不到|联系不上|拉黑|删了我|把我删|不回|跑了|不发货|没发货|不见了|打不通|关机|空号")
_TRANSFER = re.compile(r"转钱|转账|转帐|汇|打钱|打款|存款|积蓄|养老钱|取出来")


def _ordinary_vetoes(text: str) -> tuple[str, ...]:
    """``everyday_payment``, ``lent_to_known``, ``plain_purchase``, ``received_money``: a
    message with no sign of a scam or of trouble, about a bill, a loan to be repaid, a
    purchase or money someone sent the writer."""
    if _SCAM_SIGN.search(text):
        return ()
    found = ()
    if _PURCHASE.search(text) and not _TRANSFER.search(text) and not _SELLER_GONE.search(text):
        #                                                 (劝不住 said of a purchase)
        found += ("plain_purchase",)
    if _TROUBLE.search(text):
        return found
    if _EVERYDAY.search(text) and not re.search("[他她]", text):   # a bill, paid to nobody
        found += ("everyday_payment",)
    if _REPAY.search(text):
        found += ("lent_to_known",)
    if _TO_ME.search(text):
        found += ("received_money",)   # 儿子给我转的钱 在银行柜台取要带啥
    return found


_LOCAL_VETOES: list[tuple[str, re.Pattern]] = [
    ("instruction", re.compile(r"(?:(?:让|叫|要|要求|教|催|逼)(?:我|你|她|他|我妈|我爸|老人|人)?[^，。！？!?]{0,10}|"
                               r"(?:先|得|必须|需要))$")),
    ("hypothetical", re.compile(r"(?:如果|万一|假如|要是|假设|会不会|是不是|要不要|能不能|怎样防止|怎么防|可能|怕|以为|"
                                r"怎么知道|怎么识别|怎么判断)"
                                r"(?:我|自己|家里人)?(?:就|都|也|已经|正在)?(?:把|将)?\s*$")),
    ("negation", re.compile(r"(?:没有?|没敢|未|不|别|还没|还未|差点|差一点|险些|幸好|幸亏|好在|不要|不能|不会|"
                            r"没能)(?:就|都|也)?(?:把|将)?\s*$")),
    # what a caller claims (医保局打电话说我卡被盗刷了) is not a loss the writer tells
    ("claimed", re.compile(r"(?:(?:打电话|打来|电话|短信|客服|对方|先是|那人)(?:上|里)?\s?(?:说|称|讲)(?:我|你|您|她|他)|"
                           r"(?:^|[\s，。！？,.!?])(?:说|称|讲)(?:我|你|您))的?"
                           r"[^，。！？!?\s]{0,8}$")),
    # money that came to the writer (女儿给我打了两千块生活费) is not a loss
    ("received", re.compile(r"(?:(?:给|转给|打给)(?:我|俺|咱)(?:们|家)?|往我的?(?:卡|账户|帐户|支付宝|微信|银行卡)里?)\s*$")),
    # what the other side says it paid itself (买家说他钱付了) is not the writer's payment
    ("their_payment", re.compile(r"(?:买家|卖家|对方|人家|他|她)(?:自己)?(?:说|讲|称)(?:他|她)?(?:们)?(?:的)?(?:钱|款)?"
                                 r"(?:已经|都|早就)?\s*$|(?:^|[，。！？,.!?\s]|说|讲)(?:买家|卖家)(?:的)?\s*$|"
                                 r"截图(?:上)?(?:说|显示)\s*$")),
    # a plan for later (说过完年就把存款都投进去): not paid yet
    ("intends", re.compile(r"(?:打算|准备|计划|想|过完年|过了年|下个月|明年|等[^，。！？!?\s]{0,6}(?:以后|之后|后)|"
                           r"过一会儿?|等一会儿?|等会儿?|待会儿?|回头|到时候)"
                           r"[^，。！？!?\s]{0,4}(?:就|再)?(?:把|将)?\s*$")),
]
# Worry about a scam that has not happened (我怕她被骗, 担心老人上当): binds the model, and
# vetoes the loss it names.
_WORRY = re.compile(r"(?:怕|担心|害怕|生怕|就怕|防止|防|提防)(?:她|他|我妈|我爸|老人|家里人|爸妈|孩子|老妈|老爸|"
                    r"我)?(?:会|也|哪天|以后|将来)?(?:被骗|上当|受骗|被人骗)|"
                    # 我怕微信上交被骗: what is feared may come between (no 了: 就怕已经被骗了 is a loss)
                    r"(?:怕|担心|害怕|生怕)[^\s，。！？!?了]{1,10}(?:被骗|上当|受骗|被人骗)(?!了)")
_MESSAGE_VETOES: list[tuple[str, re.Pattern]] = [
    ("negation", re.compile(r"(?<!发票)(?<!收据)(?<!货)(?:就|所以|也|都)没(?:有)?(?:交|转|付|给|汇|充|填|输|扫)(?!完|够)|"
                            # the writer did not pay (我没交), said at a clause's end; not 我还没交, nor
                            # after a sum paid before (付了一万定金 又要交保证金 我没交: that is gone)
                            r"^(?!.*(?:付了|转了|汇了|交了|给了|充了|垫了|投了|亏了|输了|被骗了)[^，。！？!?\s]{0,3}[\d一二两三四五六七八九十百千万]).*"
                            r"(?<!还)(?:我|俺)(?:根本|压根)?没(?:有)?(?:交|转|付|给|汇|充|扫|做|垫)(?:钱)?(?=$|[\s，。！？,.!?])|(?<![还就])差(?:一)?点(?:就|儿)?(?:被|转|给|交|付|汇|上当|信|听|去|把|点|相信|答应|买|投|"
                            r"让|掉|被骗|填|输|扫|报|念|下载|装|开)|^差(?:一)?点(?:儿)?(?=[\s，。！？,.!?])|才没(?:有)?(?:去|转|交|给|付|汇|上当|被骗)|险些|没敢(?!说|告诉|讲|跟|让|吭)|(?:幸好|幸亏|好在|还好)(?:被)?(?:我|她|他|家里人)?(?:没|及时|发现|"
                            r"看到|拦)|被(?:我|家里人|儿子|女儿|柜员|银行)?拦(?:下|住)|拦下来了|拦住了|给拦(?:下|住)了|"
                            # nothing left the account (她扫了没付钱)
                            r"了没(?:有)?(?:付|转|交|扣)(?:钱|款)|"
                            # the writer ignored them (我没理他)
                            r"我(?:就|都|也|根本)?(?:没|没有|不)(?:理|搭理)(?:他|她|对方|人家|他们)|"
                            # told them there is no money (我说没钱垫 她就把我拉黑了)
                            r"我说(?:我)?(?:没|没有)钱")),
    ("hypothetical", re.compile(r"^(?:如果|万一|假如|要是|假设)|(?:如果|万一|假如|要是|假设).{0,20}(?:怎么办|会怎样)|"
                                r"(?:如果|万一|假如|要是|假设)[^。！？!?]{0,16}(?:转|交|付|汇|被骗|给|输|填|报)|"
                                r"了(?:会|能)(?:怎么样|怎样|有(?:什么|啥)(?:后果|影响|事))|"
                                r"(?:交|给|付)了(?:钱|赎金)?(?:真)?(?:能|会)(?:回来|放人|放出来)|"
                                r"^(?!.*(?:结果|后来|才发现|才知道|已经|打不开|登不上|联系不上|拉黑|跑路|不见了|没下款|没到账|"
                                # paid before, again and again (交了三次了, 加起来七千): not an if
                                r"次了|加起来|一共|前前后后)).*(?:交|转|付|充|买)了(?:才|就)(?:能|可以|会|给|放|到账|"
                                r"退|发货|提现|寄|发卡|下卡|下款|办)")),
    # ^ 交了才能到账: a condition, unless the story goes on
    # the money has not moved (钱还没动): no loss, unless a code or password was given
    ("money_unmoved", re.compile(r"钱(?:还|都)?没(?:动|转出去|少)|钱(?:都)?还在(?:卡里|我这|账上)")),
    ("how_to_tell", re.compile(r"^(?:哪些|怎么识别|怎么判断|如何识别|如何判断|怎样识别|怎么看出)|"
                               r"(?:都有|有)(?:啥|什么|哪些)(?:新)?(?:骗局|骗法|套路|诈骗)|"
                               r"(?:怎么|如何|怎样)(?:识别|判断|分辨)\s*$")),
    ("quoted_warning", re.compile(r"(?:反诈宣传|宣传(?:里|上)?说|警方提醒|警方提示|温馨提示|反诈提醒|防骗提醒|紧急提醒|提醒大家|"
                                  r"转发(?!说)|扩散|预警】|【.{0,8}提醒】|请大家注意|大家注意)")),
    # (not a refund the caller only claims: 说钱追回来了 要我交个解冻费)
    ("refund", re.compile(r"(?<![说称])(?:退款|钱|款)(?:已经|都)?(?:到账了|退回来了|退回了|追回来了|要回来了)|(?<![号群])已经退(?:给我)?了|"
                          r"^(?!.*(?:骗|客服|验证码|共享|保证金|解冻|对方|他们|[让要叫][我他她]|链接|下载|软件|能治|讲座|专家|没这回事|假的|冒充|"
                          # the money went to them (转到他那个账户了, 卡里少了): a loss hoping for it back
                          r"[按照][他她]|转到|转过去|打过去|汇过去|少了|划走|扣走|转走|盗刷|洗钱|涉嫌|警官|公安|法院|检察|[给要]退给|给[我他她]退|"
                          # a sales meeting's cure, a code read out, a fee to pay again first
                          r"保健|会销|念给|报给|的码|再转|重新做|操作失误|操作错)).*(?:(?:怎么|怎样|怎么样|么样|咋)退|能退|能不能退|退款|"
                          r"申请退|退回来吗)")),
    ("not_followed", re.compile(r"(?:让|叫|要)(?:我|她|他|我妈|我爸).{0,20}(?:(?<!说)(?:我|就|她|他)(?<!还)(?:没理|不理|没转|没给|"
                                r"没交|没点|没下载|没发|没说|没报|没输|没去|没扫)|(?<!还)(?:没理|不理)|"
                                r"(?:我|就|直接)(?:把(?:他|她|对方))?(?:拉黑|挂了|删了(?:他|她|对方)))")),
    ("worry", _WORRY),
    ("stopped", re.compile(r"(?:已经|早就|当时就|马上就?|直接|吓得|赶紧|赶快|立马|立刻|我就|给)挂(?:了|断了|掉了)|"
                           # the phone taken from a child, the relative told not to pay (跟他讲莫交),
                           # quit half-way (没填完就退出了)
                           r"把手机(?:收了|收走了|抢过来|拿走了|夺过来)|(?:跟|和|对)(?:她|他)(?:讲|说)(?:了)?(?:别|不要|莫)(?:再)?(?:给|转|交|付|汇)|"
                           r"没(?:填|弄|输)完|(?:就|赶紧|马上|直接)(?:退出|卸载)(?:了|来了)|"
                           # the writer hung up, said after a reason (我说要去接孩子就挂了)
                           r"(?<![他她])我[^，。！？!?\s他她]{1,8}就挂(?:了|断了|掉了)|"
                           r"(?<![让叫要])(?:我|就|赶紧|赶快|直接|马上|立马|立刻)把(?:视频|电话|语音|通话)(?:给)?(?:关|挂|挂断|掐|掐断)(?:了|掉了)|"
                           # stopped half-way (填到一半觉得不对就关了, 没点提交)
                           r"(?:觉得|感觉|发现|看着|一听|一看|听着|想起来|反应过来|回过神来?|意识到)不对(?:劲)?[^。！？!?]{0,3}(?:关|退|停|挂|删|没)|(?<!还)(?<!还是)没(?:点|按)(?:提交|确认|付款)|"
                           # the writer refused (我没按他说的弄, 我就没往下做了) whatever the other side does now
                           r"(?:我|俺)(?:就|也|根本|压根|可)?没(?:有)?(?:按|照)(?:他|她|对方|人家)?(?:说的)?(?:弄|做|办|操作)|"
                           r"(?:我|俺)(?:就|也)?没(?:再)?往下(?:做|弄|转|交)|"
                           # the writer stopped the relative (我让她先别给)
                           r"(?:让|叫)(?:她|他|我妈|我爸|老人|孩子)(?:先)?(?:别|不要)(?:再)?(?:给|转|交|付|汇)|"
                           r"不让(?:她|他|我妈|我爸|老人|孩子)(?:再)?(?:给|转|交|付|汇)|"
                           r"(?:^|[\s，。！？,.!?]|我|俺|就|已经|直接|赶紧|赶快|马上|立马|早就|都|先|给)把(?:他|她|对方|那个号|那个人|人|骗子|号码|骗子的号码)(?:的微信|的号)?(?:拉黑|删)了|被(?:我|家里人|儿子|女儿|柜员|银行)?"
                           r"拦(?:下|住)|拦下来了|拦住了")),
]
_SUM = r"(?:[\d一二两三四五六七八九十几][十百千万]|块|元)"
# Not paid yet (我还没付 心里打鼓): no loss, unless a sum was paid before. It vetoes losses only
# and does not bind the model (对方让我现在转 我还没转: the demand is live).
_NOT_YET = re.compile(r"^(?!.*(?:付了|转了|汇了|交了|给了)[^，。！？!?\s]{0,3}[\d一二两三四五六七八九十百千万]).*"
                      r"(?:我|俺)(?:都)?还没(?:有)?(?:付|转|交|汇|给|打)(?:钱|款)?(?=$|[\s，。！？,.!?])")
# Nothing paid (no payment verb anywhere): the next three bind the urgency model only.
_NOTHING_PAID = r"^(?!.*(?:转了|付了|交了|汇了|给了|充了|投了|转过去|打过去|转账了|付款了|打了\d|打了[一二两三四五六七八九十几]))"
_MESSAGE_VETOES += [
    # checked with the real person or office, and it was fake (我打了老板座机才知道是假的)
    ("verified", re.compile(_NOTHING_PAID + r".*(?:打|问|核实|确认|联系)[^。！？!?]{0,10}(?:(?:才知道|才发现|发现|原来)"
                            r"[^。！？!?]{0,4}(?:是)?(?:假的|骗子|冒充|骗人)|人?好好的|没出事|啥事没有|什么事都没有)")),
    # winning so far and wanting to put in more (赢了两万 现在想投更多): a warning, no loss yet
    # (垫了100返了130 要不要接着做: the first rebates of a brushing task are paid out, too)
    ("winning_so_far", re.compile(r"^(?!.*(?:输|亏|赔|提不|取不|没了|冻结|解冻|风控|跑路|打不开|登不上|不让提|拉黑|不返|没返|不回|找不着|找不到|联系不上)).*"
                                  r"(?:(?:赢了|赚了|挣了|收益|返了|返给我|提出来了|提现了|(?:能|可以)提(?:出来|现)|真给了|"
                                  r"真的给了|确实给了)[^。！？!?]{0,14}"
                                  r"(?:想|要|准备|打算|要不要|该不该|能不能)(?:再|接着|继续)?(?:多|加)?"
                                  r"(?:投|充|买|放|加|做|玩|跟)|"
                                  # ... or told as the story's end so far (投了点钱还赚了, 说赢了一千多)
                                  r"(?:还|也|都|确实|真|说)(?:赚了|赢了|挣了)[^，。！？!?\s就叫让要]{0,6}(?=$|[\s，。！？,.!?]))")),
    # a relative set on buying something dear (要买一万多的床垫), nothing paid yet
    ("wants_to_buy", re.compile(_NOTHING_PAID + r".*(?:(?:要|想|非要|打算|准备)(?:去)?(?:花[^。！？!?]{0,8}" + _SUM +
                                r"[^。！？!?]{0,4})?|(?:下个?月|明天|后天|过几天|过两天|月底|年底|过年)(?:就|再)(?:去)?)买(?!了)")),
    # only what a caller asked for, told after the call (电话里的人说是公安 要我把钱转到安全账户):
    # nothing paid and no sign the caller is still there (content/README.md, rule 3)
    ("reported_instruction", re.compile(
        _NOTHING_PAID + r"(?!.*(?:正在|现在|还在|这会儿|马上|等着|没挂|别挂|不要挂|不让挂|催|今天|今晚|已经|劝不住|拦不住|"
        r"银行门口|柜台|路上|准备|凑|借))"
        r".*(?:说是|自称|说他是|说她是|冒充)[^。！？!?]{0,30}(?:让|叫|要)(?:我|她|他|我妈|我爸)(?:把)?[^，。！？!?]{0,8}"
        r"(?:转|汇|打)(?:到|进|给)")),
    # what could happen if (开屏幕共享有啥危险): a question about the risk
    ("asks_risk", re.compile(r"有(?:啥|什么|没有)(?:危险|风险)|危险吗|安全吗|风险大吗")),
]
# A friend: not a girlfriend or boyfriend (the writer's own), not 朋友圈 (a place to buy in).
_FRIEND = r"(?<![女男])朋友(?!圈)"
# Hearsay about someone else ("同事说他花了五千…") is a question, not an emergency of the writer's.
_HEARSAY = re.compile(r"(?<![给向找])(?:同事|" + _FRIEND + r"|邻居|同学|室友|闺蜜|发小|别人|听说|新闻|网上说|网上看到|有人|视频里|报道|隔壁|工友|老乡|大姐|阿姨|"
                      r"老李|老王|老张|老[刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜程苏魏吕丁沈姚卢崔钟谭陆汪范廖贾夏邹孟熊秦邱薛段雷侯史陶贺顾毛郝龚邵严戴]|村里|小区|单位|群里转发|大爷|大妈|大叔|有个人|县城|镇上|们村|村有|好多人|很多人|不少人|好几个人|评论区|群里有个|有个家长)")
_HEARD_OF = re.compile(r"(?<![给向找])(?:听说|(?<![不没])听(?![见到着起上])(?:(?!在|电话|视频|语音|里面|讲座|课).){1,7}?(?:说|讲(?!座|课))|新闻|报道|据说|网上说|网上看到|视频里说|群里转发)")
_SOMEONE = {"有人", "别人", "有个人"}
# ... as the source of a message (有人转发说…, 有人发来…): what follows in a later clause, with
# nobody else named, is what the writer did with it.
_SOURCE = re.compile(r"(?:在群里|在微信上)?(?:转发|发来|发了|发个|发的|私信|打电话|打来|加我)")
# A code or password told to the writer's own family is not a loss; an instruction to uninstall,
# hang up, block or report carried out is not one either.
_TO_FAMILY = re.compile(rf"(?:给|告诉|发给|报给|念给)(?:了)?(?:我)?(?:的)?(?:老|表|堂)?{_FAMILY}")
_PROTECTIVE = re.compile(r"卸载|删掉|删除|挂断|挂掉|拉黑|报警|改密码|改了密码")
_RISKY_STEP = re.compile(r"下载|装|转|付|交|输|填|扫|汇|打钱|共享")
# The writer's family member as the message's subject (not one reporting hearsay: 我妈说…).
_FAMILY_SUBJECT = re.compile(rf"^(?:喂\s*)?(?:那个\s*)?(?:就是)?我(?:的|家)?(?:表|堂|亲|大|小|二|三|老)?{_FAMILY}+"
                             r"(?!说|讲|听|看到)")
# Someone outside the family the message is about (binds the model when no rule fired).
_OTHER_PERSON = re.compile(r"同事|" + _FRIEND + r"|邻居|同学|室友|闺蜜|隔壁|工友|老乡|发小|大姐|阿姨|大爷|老李|老王|老张|"
                           r"村里|小区|单位")
# The writer only speaking or thinking in someone else's story (我同事被骗了…我说莫删): no act
# of the writer's own.
_WRITER_SPEAKS = re.compile(r"(?:我|俺)(?:就|也|都|还)?(?:说|觉得|想|问|劝|跟(?:她|他)说|告诉(?:她|他)|怕|担心|看着)")
# Payment signals that may only be what someone told the writer to do (让我转给他两万).
_INSTRUCTABLE = {"paid_amount", "sent_off", "savings_moved", "borrowed_and_sent", "money_gone"}
# A story (an amount, 结果/才发现, two things done) is the writer's own even without 我.
_STORY = re.compile(rf"\d|[一二两三四五六七八九十几][十百千万]|结果|后来|才发现|才知道|已经|刚才|刚刚|了.{{1,14}}了")
# A loss without a subject is the writer's own (Chinese drops 我: 买狗被骗了怎么办) unless it is
# said in general: 被骗以后/被骗的话/一般/老年人被骗了...
_GENERIC_LOSS = re.compile(r"被骗(?:了)?(?:以后|之后|后)|(?:以后|之后|后)\s?(?:该|要|应该|第一|先|怎么|能|是|自己|为什么|多久|要不要)|的话|一般|通常|哪些|什么样|是不是|会不会|的人|老年人|人们|大家|"
                           r"有人|别人|一个人|谁|如何|怎样|是什么|什么是|是真的吗|真的假的|多长时间|多久|怎么(?:防|识别|避免|预防)|第一|(?<![家我])老人|这种|这类")
# A payment somewhere in the message: being blocked (把我删了) is a loss only after one.
_PAID = re.compile(r"(?<!没)(?<!没有)(?:转|付|交|充|投|汇|给|打)(?:了|过|进)|钱|款|元|块|[千万]|骗子")
_IF_AT_START = re.compile(r"(?:如果|万一|假如|要是|假设)")
_CLAUSE_END = re.compile(r"[，。！？,.!?；;\s]")
_CLAUSE_BREAK = re.compile(r"[，。！？,.!?；;]")
_FIRST_PERSON_OR_FAMILY = re.compile(
    rf"我(?!们(?:小区|村|单位|这|那|班|公司|群|楼|厂|宿舍|学校|队|组|船|车间|工地|店|镇|街|屯|寨))(?!的?(?:邻居|同事|朋友(?!圈)|同学|室友|闺蜜|老乡|工友|发小|网友))|"
    rf"咱|{_FAMILY}")
# Someone else's family (她女儿, 他的儿子, 人家孩子) is not the writer's.
_THEIR_FAMILY = re.compile(rf"(?:(?:她|他|人家|别人|邻居|同事|朋友|同学|老乡)(?:家)?(?:的)?|有个|有一个|有家|有户|一家|宝|大)"
                           rf"(?:表|堂|亲)?{_FAMILY}+")


# Family words said of people in general (老年人不好意思告诉子女) are nobody's in particular.
_ANYONES_FAMILY = re.compile(r"(?<![我咱俺])(?:子女|儿女|父母们|老年人|家长们)")


def _own(text: str) -> bool:
    """Does the text mention the writer or the writer's family?"""
    return bool(_FIRST_PERSON_OR_FAMILY.search(_ANYONES_FAMILY.sub("", _THEIR_FAMILY.sub("", text))))


@dataclass(frozen=True)
class Urgency:
    """The rules' view: kind is 'in_progress', 'lost' or None; in_progress wins when both
    fired (stopping the next payment comes first, and its steps cover a loss too)."""
    urgent: bool
    signals: tuple[str, ...]
    kind: str | None = None
    vetoes: tuple[str, ...] = ()   # vetoes that fired (a vetoed signal is listed here)
    message_vetoes: tuple[str, ...] = ()  # those holding for the whole message: they also
    #                                       keep the learned model from raising urgency
    fraud_words: str | None = None  # words of the fraud domain (被骗, 报警, 冒充...): never the menu
    fresh_demand: bool = False      # asked to pay again now (又要交, 还差一单): a loss the urgency
    #                                 model found is in progress


def _local_veto(text: str, start: int, end: int, kind: str, signal: str) -> str | None:
    """An instruction (让我把钱转…: only a loss signal), a negation or a hypothetical just
    before a match cancels it."""
    for name, pattern in _LOCAL_VETOES:
        if name == "instruction" and signal not in _INSTRUCTABLE or \
                name in ("their_payment", "intends") and kind != "lost":
            continue
        if name == "instruction":   # ...unless it says it was done (让我把钱转过去了)
            if kind == "lost" and not re.search("[了完]", text[start:end]) and \
                    pattern.search(text[max(0, start - 14):start]):
                return name
        elif name == "claimed":
            if kind == "lost" and pattern.search(text[max(0, start - 14):start]):
                return name
        elif pattern.search(text[max(0, start - 6):start]):
            return name
    return None


def _about_someone_else(text: str, start: int, end: int) -> bool:
    """About someone outside the family (听说/新闻/邻居/同事…) with no 'I' or family member
    between that mention and the signal's end (有人正跟我打电话 is the writer's own call):
    hearsay, not the writer's emergency."""
    before = text[:start]
    mentions = list(_HEARSAY.finditer(before))
    if not mentions:
        return False
    last = mentions[-1]
    clause = _CLAUSE_END.search(text, end)   # ...to the end of the signal's clause
    if _own(text[last.end():clause.start() if clause else len(text)]):
        return False
    # 有人/别人 bringing in the other side, after a family member the message is about, and
    # not in the signal's own clause (我表弟想考证，有人说不用考，他先转了一千五): the family
    # member's story. 我妈说有人被骗了 (one clause) stays hearsay.
    if last.group() in _SOMEONE and _SOURCE.match(text, last.end()) and \
            _CLAUSE_END.search(text, last.end(), start) and \
            not re.search("[他她]", text[last.end():start]) and \
            not _HEARSAY.search(text, last.end(), clause.start() if clause else len(text)):
        return False
    return not (all(m.group() in _SOMEONE for m in mentions) and
                _FAMILY_SUBJECT.search(before[:mentions[0].start()]) and
                _CLAUSE_END.search(text, last.end(), start))


def _without_subject(text: str) -> bool:
    """A question with no 'I', no family member and no story (被骗了第一时间要做什么):
    general advice is asked; the learned model may still raise urgency."""
    return not _own(text) and not _STORY.search(text) and bool(_GENERIC_LOSS.search(text))


def _clause_before(text: str, start: int) -> str:
    """The text from the start of the clause (after a punctuation mark or a space) to ``start``."""
    cut = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
    return text[cut:start]


def message_vetoes(normalized: str, admitted: tuple | None = None) -> tuple[str, ...]:
    """Vetoes that hold for the whole message (near-miss, quoted warning, refund...).
    ``admitted``: ``_gates().admitted`` of the message, if the caller has it."""
    gates = _gates()
    if admitted is None:
        admitted = gates.admitted(gates.mask(normalized))
    return tuple(name for name, pattern in compress(_MESSAGE_VETOES, admitted[len(_SIGNALS):])
                 if pattern.search(normalized))


class _TableGates:
    """The gates (``Gates``, below) of the signals and the message vetoes, compiled together: a
    pattern whose gate does not admit a message's characters cannot match it, and is not run.
    ``admitted(mask(text))``: a value per signal, then per message veto, in the tables' order,
    then one for ``_DEMAND_AGAIN``, true when its pattern may match."""

    def __init__(self):
        self.size = (len(_SIGNALS), len(_MESSAGE_VETOES))
        gates = Gates([gate_of(pattern) for _, pattern in gated_patterns()])
        self.mask, self.admitted = gates.mask, gates.admitted


def gated_patterns() -> list[tuple[str, re.Pattern]]:
    """(name, pattern) of every pattern a gate stands before, in the gates' order: the
    signals, the message vetoes, then the demand to pay again (``_DEMAND_AGAIN``)."""
    return [(name, entry[-1]) for name, *entry in _SIGNALS + _MESSAGE_VETOES] + \
        [("demand_again", _DEMAND_AGAIN)]


_table_gates: _TableGates | None = None


def prepare_gates() -> None:
    """Compile the tables' gates now (~40 ms): an engine does when it is made or loaded, so
    the first message does not wait for them."""
    _gates()


def _gates() -> _TableGates:
    """The tables' gates, made on first use (and again if a table grew)."""
    global _table_gates
    gates = _table_gates
    if gates is None or gates.size != (len(_SIGNALS), len(_MESSAGE_VETOES)):
        gates = _table_gates = _TableGates()
    return gates


def _inside_worry(text: str, start: int) -> bool:
    return any(w.start() <= start < w.end() for w in _WORRY.finditer(text))


def detect_urgency(normalized: str, request: str | None | object = ...) -> Urgency:
    """Find the signals of an ongoing or completed loss in normalised text. ``request``:
    ``money_request(normalized)`` if the caller has it (else made here, once, if needed)."""
    def asked() -> str | None:
        nonlocal request
        if request is ...:
            request = money_request(normalized)
        return request

    found: list[tuple[str, str]] = []
    gates = _gates()
    admitted = gates.admitted(gates.mask(normalized))   # a pattern not admitted is not run
    whole = message_vetoes(normalized, admitted) + _ordinary_vetoes(normalized)
    heard = _HEARD_OF.search(normalized)
    if heard and not _own(normalized[heard.end():]):
        whole += ("hearsay",)   # 听说/新闻里… and nobody of the writer's own after it
    vetoes = list(whole)
    for name, kind, pattern in compress(_SIGNALS, admitted):
        for m in pattern.finditer(normalized):
            veto = _local_veto(normalized, m.start(), m.end(), kind, name)
            if veto == "negation" and kind == "in_progress" and name != "happening_now":
                veto = None
            if veto is None and name == "gave_code" and \
                    _TO_FAMILY.search(normalized, m.start(), m.end() + 4):
                veto = "family_recipient"   # 把微信密码告诉了老公
            if veto is None and name == "did_as_told" and \
                    _PROTECTIVE.search(normalized[max(0, m.start() - 20):m.start()]) and \
                    not _RISKY_STEP.search(normalized[max(0, m.start() - 20):m.start()]):
                veto = "protective_step"   # 96110 让我卸载 我照做了
            if veto is None and _about_someone_else(normalized, m.start(), m.end()):
                veto = "hearsay"
            if veto is None and kind == "lost" and _without_subject(normalized):
                veto = "no_subject"
            if veto is None and kind == "lost" and \
                    any(v in vetoes for v in ("negation", "refund", "not_followed")):
                veto = next(v for v in vetoes if v in ("negation", "refund", "not_followed"))
            if veto is None and kind == "in_progress" and "stopped" in vetoes:
                veto = "stopped"   # hung up already, or someone stopped the payment
            if veto is None and "的话" in normalized[m.end():m.end() + 4]:
                veto = "hypothetical"   # 家人正在被骗的话…
            if veto is None and name == "held_abroad" and _CANNOT_RETURN.fullmatch(m.group()):
                if not _ABROAD.search(normalized):
                    veto = "not_abroad"     # 儿子过年回不来了: kept at work, not held
                elif _FEARED_RETURN.search(normalized, max(0, m.start() - 6), m.start()):
                    veto = "hypothetical"   # 说去了就回不来了: the fear of it
            if veto is None and name == "paid_amount" and m.group().startswith("给"):
                if _CARD_LENT.search(normalized):
                    veto = "card_rent"      # the rent paid for the writer's card
                elif _FIRST_TIME.search(normalized, max(0, m.start() - 6), m.start()):
                    veto = "first_payout"   # 第一回给了她十块钱: a task's first payout, to her
            if veto is None and name == "cut_off" and not _PAID.search(normalized):
                veto = "no_payment"
            if veto is None and name in ("fee_to_withdraw", "platform_frozen") and \
                    (_LOAN.search(normalized) or not _MONEY_IN.search(normalized)):
                veto = "no_payment"   # a loan never received, a prize never won: nothing in
            if veto is None and name in _LIVE_SIGNALS and _GENERAL.search(normalized) and \
                    not _own(normalized):
                veto = "general"
            if veto is None and kind == "in_progress" and _ASKED_OF_YOU.search(normalized) and \
                    not re.search("[我俺咱]", normalized):
                veto = "general"
            if veto is None and name in _LIVE_SIGNALS and "negation" in whole:
                veto = "negation"   # 差点就转了 / 幸好没…: it is over
            if veto is None and kind == "in_progress" and \
                    (_IF_AT_START.match(normalized) or _IF_AT_START.search(_clause_before(normalized, m.start()))):
                veto = "hypothetical"   # 那要是对方说不转前面的就没了呢
            if veto is None and kind == "lost" and "money_unmoved" in whole and \
                    name not in ("gave_code", "code_given_story"):
                veto = "money_unmoved"
            if veto is None and kind == "lost" and _NOT_YET.search(normalized):
                veto = "not_yet"   # 我还没付: nothing has gone
            if veto is None and kind == "lost" and "winning_so_far" in whole:
                veto = "winning_so_far"   # paid in, and more came back so far: no loss yet
            if veto is None and name == "teller_asks" and not asked():
                veto = "no_payment"       # 柜员一直问 on a transfer of the writer's own
            if veto is None and name == "cannot_stop" and (
                    _NO_MONEY_ASKED.search(normalized) or
                    not (_SCAM_SIGN.search(normalized) or _PAID.search(normalized) or asked())):
                veto = "no_payment"       # 人家又没要她一分钱; 非要去冰上钓鱼 劝都不听: no money in it
            if veto is None and kind == "in_progress" and "wants_to_buy" in whole and \
                    not asked() and not _THERE_NOW.search(normalized):
                veto = "purchase"   # set on buying a mattress, 拦不住: a purchase, nobody to pay
                #                     (at the lecture now, 讲座现场, is pressure now)
            if veto is None and kind == "lost" and "worry" in whole and \
                    _inside_worry(normalized, m.start()):
                veto = "worry"     # 我怕她哪天被骗了钱: the loss is the feared one
            if veto is None and "hearsay" in whole:
                veto = "hearsay"   # 听说/听邻居说… and nobody of the writer's after it
            if veto is None and kind == "lost" and \
                    any(v in whole for v in ("everyday_payment", "lent_to_known")):
                veto = next(v for v in whole if v in ("everyday_payment", "lent_to_known"))
            if veto is None and "received_money" in whole:
                veto = "received_money"
            if veto is None and kind == "in_progress" and "plain_purchase" in whole:
                veto = "plain_purchase"
            if veto is None and "how_to_tell" in whole:
                veto = "how_to_tell"   # 哪些话一听就知道家里人正在被骗: signs asked in general
            if veto is None and "quoted_warning" in vetoes:
                veto = "quoted_warning"
            if veto is None and "hypothetical" in vetoes and kind == "lost":
                veto = "hypothetical"
            if veto is None:
                found.append((name, kind, m.start(), m.end()))
                break
            vetoes.append(veto)
    if not found and "hearsay" not in whole and \
            (_OTHER_PERSON.search(normalized) or "hearsay" in vetoes) and \
            not _own(_WRITER_SPEAKS.sub("", normalized)):
        # about a neighbour, a colleague, 有个人 whose signals were all hearsay: binds the model too
        whole += ("hearsay",)
        vetoes.append("hearsay")
    found, kind, fresh = _settle_kind(normalized, found, "stopped" in vetoes,
                                      bool(admitted[-1]))
    fraud = _FRAUD_WORDS.search(normalized)
    return Urgency(bool(found), tuple(n for n, *_ in found), kind, tuple(dict.fromkeys(vetoes)),
                   whole, fraud.group() if fraud else None, fresh)


def _settle_kind(text: str, found: list, stopped: bool,
                 demand_may_match: bool = True) -> tuple[list, str | None, bool]:
    """The kind of the signals found ((name, kind, start, end) each), and whether a fresh
    demand is still open. Paid once and asked again now (解冻费, 还差一单, 又来要) is in progress:
    the next payment is the one still to stop, and its steps cover the loss too; unless the
    other side is gone since (拉黑了, 这才知道上当了): gone after the demand closes it, a demand
    after being blocked (今天又换个号来要钱) opens it again. A screen share told in the past
    (开了屏幕共享) before the money went is over too. ``demand_may_match``: False when the
    gate of ``_DEMAND_AGAIN`` did not admit the text (it cannot match)."""
    losses = [f for f in found if f[1] == "lost"]
    live = [f for f in found if f[1] == "in_progress"]
    # a bare 再转 (then transfer) or a plain demand is a fresh one only after the loss
    first_loss_end = min((f[3] for f in losses), default=len(text))
    demands = [m.start() for m in _DEMAND_AGAIN.finditer(text)
               if not m.group().startswith("再") or m.start() >= first_loss_end] \
        if demand_may_match else []
    if losses:   # (without one, nothing is after it)
        demands += [m.start() for m in _PLAIN_DEMAND.finditer(text) if m.start() >= first_loss_end]
    last_gone = max((m.start() for m in _GONE.finditer(text)), default=-1) \
        if demands or live and losses else -1   # (read only then)
    fresh = bool(demands) and max(demands) > last_gone and not stopped and \
        not _PAID_AGAIN.search(text, max(demands, default=0))   # …她又转了一千: the demand was met
    if live and losses and all(
            (name == "shared_screen" and _PAST_SCREEN.match(text[start:end])) or
            (name in _DEMAND_SIGNALS and start < last_gone) for name, _, start, end in live):
        found, live = losses, []
    if losses and not live and fresh:
        found = found + [("demand_again", "in_progress", -1, -1)]
        live = found[-1:]
    kind = "in_progress" if live else "lost" if losses else None
    return found, kind, fresh


# Words that put a message in the fraud domain: a question about a scam, reporting one, a caller
# who claims to be someone. Such a message gets a scam type or the general advice, never the
# menu (bank CV: scam lines answered with the menu 93 -> 76, off-topic lines unchanged). Not 报案
# (a stolen bike), not 骗 alone (孩子骗我说写完作业了).
_FRAUD_WORDS = re.compile(r"被骗|上当|受骗|骗子|诈骗|骗局|骗钱|骗人|电诈|反诈|报警|96110|12381|12321|可疑|冒充|自称|安全账户|"
                          r"涉嫌|通缉|洗钱|刷单|返利|勒索|敲诈|传销|黑户|钓鱼|木马|是真的吗|真的假的|靠谱吗|正规吗|能信吗|可信吗|"
                          # the scams' own trades, said by no off-topic line of the bank (s18: 手机挖矿每天领币,
                          # 炒外汇有人带, 一千块买我银行卡 got the menu once the off-topic class grew)
                          r"挖矿|炒外汇|外汇平台|原始股|虚拟币|数字货币|usdt|跑分|卖卡|收卡|租卡|"
                          r"(?:出租|出售|出借|租|卖|买|收)(?:我的?|你的?|他的?|自己的?)?(?:银行卡|电话卡|手机卡|微信号|支付宝)|"
                          r"杀猪盘|裸聊|荐股|带单|刷流水|博彩|百家乐|网赌|彩票计划|内幕消息|稳赚不赔|稳赚|稳赢|"
                          # a recorded call that asks for a key press (医保卡冻结 按1转人工)
                          r"按[0-9一二九零](?:键)?(?:转人工|查询|咨询|了解详情)")
_REQUEST = re.compile(
    r"(?:让|叫|要|请|需要|需|得|必须|要求|催)(?:我|你|您|本人|她|他|我妈|我爸|老人)?(?:先|再|马上|立即|尽快|赶紧)?"
    r"[^，。！？,.!?]{0,6}(?:转账|转钱|转到|转给|打钱|打款|汇款|付款|支付|缴纳|交(?:钱|费|一|个|点|\d)|垫付|垫钱|"
    r"充值|验证码|密码|卡号|银行卡|cvv|刷流水|买卡|充卡)")
_FEE = re.compile(r"(?:手续费|保证金|解冻费|激活费|税费|服务费|押金|认证费|会员费|工本费|定金|订金|"
                  r"刷流水|验资|安全账户|管理费|公证费|保释金|赎金|违约金|通道费|疏通费)")


# Said not to have been asked (没让转钱也没问密码, 不用交押金): a real office telling a resident
# what it did not ask for is no request.
_NOT_ASKED = re.compile(r"(?:没|没有|不|未|无|免|别|不用|不需要|无需)(?:让|叫|要|用|收|问|需要)?(?:我|你|您)?"
                        r"(?:交|付|转|缴|给|出|问)?\s*$")

_THREAT_AFTER = re.compile(r"\s*(?:的话)?\s*(?:就|会|要|将)")


def money_request(normalized: str) -> str | None:
    """The words that ask the writer for money or credentials, or None."""
    for pattern in (_REQUEST, _FEE):
        m = pattern.search(normalized)
        while m:
            if not _NOT_ASKED.search(normalized, max(0, m.start() - 6), m.start()) or \
                    _THREAT_AFTER.match(normalized, m.end()):   # 不交保证金就冻结: a demand
                return m.group()
            m = pattern.search(normalized, m.start() + 1)   # 没让我交钱 就要了验证码
    return None
