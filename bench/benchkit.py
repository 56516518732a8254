"""Shared pieces of the benchmarks: a resident-question pool, WeChat-signed requests, and a
gunicorn server started exactly like ``python -m bot serve`` on a free loopback port with its own
temporary config and SQLite database.

Not a test helper: tests/wechat_client.py posts through Flask's test client; this module builds
raw HTTP requests (query string + body) for wrk and http.client.
"""
from __future__ import annotations

import hashlib
import http.client
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
HOST = "127.0.0.1"  # benchmarks only ever target loopback
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "bench_token_0123"
APP_ID = "wxbench0000000001"
AES_KEY = "BenchmarkAesKeyOnlyForLoopbackRuns012345678"  # 43 characters, not a real secret
MAX_SKEW = 300  # wechat.max_clock_skew_seconds in config.toml

# What residents actually send: scam situations in their own words, pasted SMS, menu words,
# and off-topic questions (weather, office hours) that must get the menu, not a scam answer.
QUESTIONS = [
    "有人打电话说我是公安局的，说我涉嫌洗钱，要我把钱转到安全账户",
    "网上兼职刷单，先垫付三百块再返佣金，靠谱吗",
    "客服说我的快递丢了要理赔，让我下载一个APP共享屏幕",
    "抖音上有人说取消百万保障会员，不取消每个月扣钱，是真的吗",
    "我儿子说换了新号码，让我先转两万块给他老师",
    "群里有个老师带大家炒股，说有内部消息稳赚不赔",
    "有个平台说无抵押秒批贷款，但放款前要先交解冻费",
    "收到短信说我的ETC认证失效了，点链接重新认证 http://etc-xx.cc",
    "网上认识的男朋友说是维和军人，要我帮他交包裹的清关费",
    "在交友软件上认识一个人，他带我在一个平台买虚拟币，现在提不了现",
    "有人加我微信说可以帮我修复征信，收三千块",
    "游戏里有人说低价卖装备，让我去另一个平台交易",
    "说我中了电视节目的二等奖，领奖要先交个人所得税",
    "我妈总去听健康讲座，买了好多保健品，说能治高血压",
    "有人说投资养老公寓，每年返百分之十五的利息",
    "有人要高价收我的银行卡和U盾，说就用几天",
    "朋友介绍去柬埔寨工作，月薪三万包吃住，机票也报销",
    "视频聊天被录了屏，对方说不给钱就发给我通讯录里的人",
    "孩子班级群里有人冒充老师收资料费，还发了收款码",
    "我刚刚给对方转了五千块钱，发现被骗了怎么办",
    "我把验证码告诉别人了，现在怎么办",
    "有人说能帮我追回被骗的钱，先交一笔手续费",
    "怎么举报诈骗电话",
    "国家反诈中心APP怎么注册",
    "96110打来的电话是真的吗",
    "常见骗局",
    "我被骗了",
    "举报线索",
    "反诈APP",
    "自称京东金融客服，说我的学生贷要注销，不然影响征信",
    "淘宝客服说我买的东西质量有问题，要给我双倍退款",
    "有人冒充部队采购，要我先垫钱买一批物资",
    "二手平台上买猫，卖家让我先付定金和运费",
    "演唱会门票有人说有内部票，要先转账",
    "微信上领导让我给一个账户转钱，说急用",
    "收到短信说积分快过期了，可以兑换礼品，点链接就行",
    "有人打电话说我的社保卡异常，要冻结",
    "裸聊被敲诈了，已经转了两千，对方还在要",
    "贷款APP说我银行卡号填错了，账户被冻结，要交钱解冻",
    "网络赌博平台说有漏洞，可以稳赢",
    "今天天气怎么样",
    "派出所几点上班",
    "身份证丢了去哪里补办",
    "附近哪里有核酸检测点",
    "你好",
    "谢谢你",
    "孩子上小学要准备什么材料",
    "银行几点下班",
    "我家的猫不吃东西怎么办",
    "怎么给手机充话费",
]


PREFIXES = ["", "请问", "帮我看看，", "我妈问：", "你好，", "急！", "老师好，", "我想问一下", "喂 "]
SUFFIXES = ["", "，是不是骗子", "，怎么办", "？", "，靠谱吗", "。谢谢", "，我该信吗", "！！", "……"]


def distinct_texts(count: int, seed: int = 5) -> list[str]:
    """``count`` distinct resident messages: the pool above, the content bank's example
    questions and off-topic lines, each with a prefix and suffix residents type; past the
    combinations, two lines run together. Distinct texts defeat every answer cache, which is
    what a resident's first message meets."""
    import random

    from bot.answering.engine import load_offtopic
    from bot.content.model import load_content

    content = ROOT / "content"
    lines = list(dict.fromkeys(QUESTIONS + [e for a in load_content(content).articles
                                            for e in a.examples] +
                               load_offtopic(content / "engine")))
    rng = random.Random(seed)
    combos = [(p, i, s) for p in PREFIXES for i in range(len(lines)) for s in SUFFIXES]
    rng.shuffle(combos)
    out = list(dict.fromkeys(p + lines[i] + s for p, i, s in combos))[:count]
    seen = set(out)
    while len(out) < count:
        text = rng.choice(lines) + "，" + rng.choice(lines)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it; released before use)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def text_xml(content: str, from_user: str, msg_id: int, create_time: int) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
            f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


class RequestMaker:
    """Distinct signed WeChat text pushes (unique nonce and MsgId each), plain or AES."""

    def __init__(self, mode: str, token: str = TOKEN, aes_key: str = AES_KEY,
                 app_id: str = APP_ID):
        assert mode in ("plain", "safe")
        self.mode, self.token = mode, token
        self.crypto = None
        if mode == "safe":
            from wechatpy.crypto import WeChatCrypto
            self.crypto = WeChatCrypto(token, aes_key, app_id)
        self._seq = itertools.count(1)
        self._run = f"{os.getpid():x}{int(time.time() * 1000) % 10**9:x}"
        self._msg_base = int(time.time() * 1000) * 10**6

    def make(self, content: str, timestamp: int | None = None) -> tuple[str, bytes]:
        """(path with query string, body bytes) for one push."""
        n = next(self._seq)
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = f"b{self._run}x{n}"
        xml = text_xml(content, f"oBenchUser{n % 997:04d}", self._msg_base + n, int(ts))
        q = {"signature": sha1_sorted(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        body = xml
        if self.crypto is not None:
            sealed = self.crypto.encrypt_message(xml, nonce, ts)
            encrypt = sealed.split("<Encrypt><![CDATA[")[1].split("]]></Encrypt>")[0]
            q["encrypt_type"] = "aes"
            q["msg_signature"] = sha1_sorted(self.token, ts, nonce, encrypt)
            body = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        return "/wechat?" + urlencode(q), body.encode("utf-8")


@dataclass
class Server:
    """A gunicorn master we started; ``stop()`` ends it (and so its workers) by its pid."""
    name: str
    port: int
    proc: subprocess.Popen
    workdir: Path
    log_path: Path
    config_path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        """Children of the master (the workers), read from /proc."""
        kids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid:
                kids.append(int(entry.name))
        return sorted(kids)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of master+workers
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def gunicorn_argv(app_spec: str, port: int, workers: int | None = None,
                  threads: int | None = None) -> list[str]:
    """Exactly the argv of ``python -m bot serve``, with only the app spec varying (and the
    workers and threads, when a bench compares other values than the shipped defaults)."""
    from bot.cli import gunicorn_argv as serve_argv  # noqa: PLC0415 - after sys.path is set
    from bot.config import ServerSettings  # noqa: PLC0415

    workers = workers or ServerSettings.workers
    threads = threads or ServerSettings.threads
    return [PYTHON] + serve_argv(app_spec, HOST, port, workers, threads)[1:]


def write_config(workdir: Path, port: int, root: Path = ROOT) -> Path:
    """A config.toml for one benchmark server: own port, own SQLite file, the content/ of
    the checkout at ``root``."""
    path = workdir / "config.toml"
    path.write_text(f"""
[server]
host = "{HOST}"
port = {port}
workers = 2
public_url = "http://{HOST}:{port}"

[database]
path = "{workdir / 'bot.db'}"

[content]
dir = "{root / 'content'}"

[wechat]
token = "{TOKEN}"
app_id = "{APP_ID}"
aes_key = "{AES_KEY}"
max_clock_skew_seconds = {MAX_SKEW}

[admin]
secret_key = "bench-secret-key-not-the-shipped-one"
""", encoding="utf-8")
    return path


def bench_env(config_path: Path | None = None, pythonpath: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_AES_KEY")}
    if config_path:
        env["BOT_CONFIG"] = str(config_path)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def init_db(config_path: Path, root: Path = ROOT) -> None:
    subprocess.run([PYTHON, "-m", "bot", "init-db"], cwd=root, env=bench_env(config_path),
                   check=True, stdout=subprocess.DEVNULL, timeout=300)


def start_server(kind: str, workers: int | None = None, root: Path = ROOT,
                 threads: int | None = None) -> Server:
    """kind 'app' (our create_app, after init-db) or 'bare' (bench/bare_app.py). ``root``:
    the checkout whose app is served (another one measures a baseline side by side)."""
    root = Path(root)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    port = free_port()
    log_path = workdir / "server.log"
    config_path = None
    if kind == "app":
        config_path = write_config(workdir, port, root)
        init_db(config_path, root)
        env, spec = bench_env(config_path), "bot:create_app()"
    elif kind == "bare":
        env, spec = bench_env(pythonpath=BENCH), "bare_app:app"
    else:
        raise ValueError(kind)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(gunicorn_argv(spec, port, workers, threads), cwd=root, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    server = Server(kind, port, proc, workdir, log_path, config_path)
    try:
        wait_ready(server)
    except Exception:
        server.stop()
        raise
    return server


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    """Until the server answers HTTP at all (a 403/405 is fine), within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} server exited:\n{server.log_tail()}")
        try:
            conn = http.client.HTTPConnection(HOST, server.port, timeout=2)
            conn.request("GET", "/wechat")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} server not ready in {timeout:.0f} s:\n{server.log_tail()}")


def post(port: int, path: str, body: bytes, content_type: str = "text/xml",
         timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def rss_kb(pid: int) -> int:
    """VmRSS of a process in kB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 if it is gone)."""
    return sum(cpu_split(pid))


def context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of all a process's threads so far ((0, 0) if
    it is gone; a thread that has ended no longer counts). A voluntary one is a thread that
    waited: for the GIL, a lock, a socket."""
    voluntary = involuntary = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for task in tasks:
        try:
            status = Path(f"/proc/{pid}/task/{task}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far, all its threads ((0, 0) if it
    is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick
