"""The deployment in deploy/: rendered for a sample host, validated by the tools that will run
it (``systemd-analyze verify``, ``nginx -t``), and then run: nginx with HTTPS (a self-signed
certificate made here) in front of the app under gunicorn, exactly as the units start it, with a
signed WeChat message going through and the right client address in the logs.

The tools are Debian's packages ``systemd`` and ``nginx`` (``make deploy-check`` installs them);
without them these tests are skipped and say why. No Docker engine runs here, so the image in
deploy/Dockerfile is not built by any test (README "Deploying" says so).
"""
from __future__ import annotations

import http.client
import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest

from bot.config import PROJECT_ROOT, load_settings
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, seed_folder
from wechat_client import WeChatSender, reply_content, text_xml

HOST = "fanzha.example.test"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)),
                                      None)
OPENSSL = shutil.which("openssl")
needs_systemd = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not "
                                   "installed (Debian package systemd; make deploy-check)")
needs_nginx = pytest.mark.skipif(NGINX is None or OPENSSL is None, reason="nginx or openssl not "
                                 "installed (Debian packages nginx, openssl; make deploy-check)")
SECRETS = {"WECHAT_TOKEN": TEST_TOKEN, "WECHAT_AES_KEY": TEST_AES_KEY,
           "WECHAT_APP_ID": TEST_APP_ID, "BOT_SECRET_KEY": "a-real-secret-key-0123456789abcdef"}

_spec = importlib.util.spec_from_file_location("deploy_render", PROJECT_ROOT / "deploy" / "render.py")
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_for(tmp_path, **overrides) -> dict:
    args = dict(host=HOST, app_dir=PROJECT_ROOT, data_dir=tmp_path / "data", user="fanzha",
                app_port=8000, http_port=80, https_port=443, cert=None, cert_key=None,
                nginx_log_dir="/var/log/nginx", upstream=None)
    args.update(overrides)
    out = tmp_path / "rendered"
    render.render_all(out, render.values_for(**args))
    return {p.name: p for p in out.iterdir()}


def test_every_placeholder_is_rendered(tmp_path):
    files = render_for(tmp_path)
    assert set(files) >= {"fanzha-web.service", "fanzha-scheduler.service", "nginx-fanzha.conf",
                          "config.toml", "env.example", "fanzha-backup.cron", "fanzha"}
    assert os.access(files["fanzha"], os.X_OK)
    assert subprocess.run(["sh", "-n", str(files["fanzha"])]).returncode == 0
    for path in files.values():
        assert not render.PLACEHOLDER.search(path.read_text(encoding="utf-8")), path.name
    with pytest.raises(KeyError, match="@NOPE@"):
        render.render_text("x @NOPE@", {})
    with pytest.raises(ValueError, match="--host"):
        render.values_for("bad host;", PROJECT_ROOT, tmp_path, "u", 1, 2, 3, None, None, "", None)


def test_rendered_config_loads_and_trusts_one_proxy(tmp_path):
    files = render_for(tmp_path)
    settings = load_settings(files["config.toml"], environ=SECRETS)
    assert settings.server.trusted_proxy_hops == 1
    assert settings.server.host == "127.0.0.1"
    assert settings.server.public_url == f"https://{HOST}"
    assert settings.admin.cookie_secure is True
    assert settings.database.path == tmp_path / "data" / "bot.db"
    assert settings.wechat.token == TEST_TOKEN and not settings.wechat.uses_dev_placeholders
    web = files["fanzha-web.service"].read_text(encoding="utf-8")
    assert "EnvironmentFile=/etc/fanzha/env" in web and "User=fanzha" in web
    assert "BOT_CONFIG=/etc/fanzha/config.toml" in web


@needs_systemd
def test_units_pass_systemd_analyze_verify(tmp_path):
    files = render_for(tmp_path)
    units = [str(files["fanzha-web.service"]), str(files["fanzha-scheduler.service"])]
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", *units], capture_output=True, text=True,
                            timeout=60)
    # verify exits 0 on unknown or unparsable settings but names them: any line about our
    # units is a mistake.
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "fanzha" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def make_certificate(directory):
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    return cert, key


def nginx_setup(tmp_path, app_port: int, http_port: int, https_port: int):
    """The rendered site inside a minimal main config with its own prefix (no /etc/nginx)."""
    prefix = tmp_path / "nginx"
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True)
    cert, key = make_certificate(prefix)
    files = render_for(tmp_path, app_port=app_port, http_port=http_port, https_port=https_port,
                       cert=str(cert), cert_key=str(key), nginx_log_dir=str(prefix / "logs"))
    site = files["nginx-fanzha.conf"]
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:   # a machine without IPv6: the [::] listeners cannot bind here
        site.write_text("\n".join(line for line in site.read_text().splitlines()
                                  if "listen [::]" not in line))
    tmp = prefix / "tmp"
    main_conf = prefix / "nginx.conf"
    main_conf.write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site};
}}
""")
    return prefix, main_conf, files, cert


@needs_nginx
def test_nginx_accepts_the_site(tmp_path):
    prefix, main_conf, _, _ = nginx_setup(tmp_path, 8000, free_port(), free_port())
    result = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(main_conf)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class HttpsClient:
    """What WeChatSender needs of a client, over real HTTPS from a chosen source address."""

    def __init__(self, port: int, cert, source: str):
        self.port, self.source = port, source
        self.context = ssl.create_default_context(cafile=str(cert))
        self.context.check_hostname = False   # we dial 127.0.0.1; the chain is still checked

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context,
                                           timeout=10, source_address=(self.source, 0))
        conn.request(method, path, body=body, headers={"Host": HOST, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return Reply(response.status, data, dict(response.getheaders()))

    def post(self, path, data=None, content_type="text/xml"):
        # A forged address: only the one hop nginx adds may count.
        return self.request("POST", path, data, {"Content-Type": content_type,
                                                 "X-Forwarded-For": "6.6.6.6"})


class Reply:
    def __init__(self, status, data, headers):
        self.status_code, self.data, self.headers = status, data, headers

    def get_data(self, as_text=False):
        return self.data.decode("utf-8") if as_text else self.data


def wait_for(check, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


@needs_nginx
def test_a_signed_message_through_nginx_and_gunicorn(tmp_path):
    """The "Done means" path: HTTPS on nginx, the app under gunicorn as fanzha-web.service
    starts it, a safe-mode message in, the encrypted answer out, the client's address (not a
    forged one) in the app's log, no OpenID or query string in nginx's."""
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    prefix, main_conf, files, cert = nginx_setup(tmp_path, app_port, http_port, https_port)
    seed_folder(tmp_path / "data")   # the session's init-db'ed database and index (conftest)
    env = {**os.environ, **SECRETS, "BOT_CONFIG": str(files["config.toml"]),
           "PYTHONDONTWRITEBYTECODE": "1"}
    app_log = open(tmp_path / "app.log", "w")
    # ExecStart of fanzha-web.service, run from its WorkingDirectory.
    app = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=PROJECT_ROOT, env=env,
                           stdout=app_log, stderr=subprocess.STDOUT, start_new_session=True)
    nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(main_conf), "-g",
                              "daemon off;"], stderr=app_log)
    slow = []
    try:
        client = HttpsClient(https_port, cert, "127.0.0.2")
        local = HttpsClient(https_port, cert, "127.0.0.1")
        wait_for(lambda: local.request("GET", "/healthz").status_code != 502, 30)

        # Slow clients (half-sent headers, bodies trickling in) twice as many as the app has
        # workers: nginx holds them, the app never sees them (with proxy_request_buffering off
        # this post waits 10 s, until nginx gives up on the slow bodies).
        for head in [b"POST /wechat HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nX-Slow: 1"] * 2 + \
                [b"POST /api/v1/ask HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nContent-Type: "
                 b"application/json\r\nContent-Length: 5000\r\n\r\n{\"q\": \""] * 2:
            raw = socket.create_connection(("127.0.0.1", https_port), timeout=5)
            slow.append(client.context.wrap_socket(raw, server_hostname=HOST))
            slow[-1].sendall(head)

        sender = WeChatSender(client, TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
        openid = "oDeployTestOpenId42"
        started = time.monotonic()
        response, reply = sender.post(text_xml("我刚给对方转了8000块 现在联系不上了",
                                               from_user=openid), mode="safe")
        assert time.monotonic() - started < 2.0    # inside WeChat's 5 s, slow clients or not
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "110" in reply_content(reply)    # the emergency steps, decrypted and verified

        # Plain HTTP answers only with the way to HTTPS.
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
        conn.request("GET", "/cases/x?a=1", headers={"Host": HOST})
        redirect = conn.getresponse()
        assert redirect.status == 301
        assert redirect.getheader("Location") == f"https://{HOST}:{https_port}/cases/x?a=1"
        conn.close()
        # Bodies over the limit stop at nginx; /healthz is for this machine only.
        assert client.post("/wechat", b"x" * (2 << 20)).status_code == 413
        assert client.request("GET", "/healthz").status_code == 403
        health = local.request("GET", "/healthz")
        assert health.status_code == 503 and b'"scheduler"' in health.data   # none runs here
    finally:
        for conn in slow:
            conn.close()
        nginx.send_signal(signal.SIGQUIT)
        os.killpg(app.pid, signal.SIGTERM)
        nginx.wait(timeout=10)
        try:
            app.wait(timeout=40)   # gunicorn finishes requests in flight for up to 30 s
        finally:
            if app.poll() is None:   # never leave it running into the next test
                os.killpg(app.pid, signal.SIGKILL)
                app.wait()
            app_log.close()
    app_lines = (tmp_path / "app.log").read_text(encoding="utf-8")
    assert "POST /wechat 200" in app_lines and "client 127.0.0.2" in app_lines, app_lines
    assert "6.6.6.6" not in app_lines and openid not in app_lines
    access = (prefix / "logs" / "fanzha.access.log").read_text()
    assert '127.0.0.2 [' in access and '"POST /wechat HTTP/1.1" 200' in access
    assert openid not in access and "signature" not in access and "nonce" not in access


def test_dockerfile_and_compose_refer_to_what_exists():
    """No Docker engine here: at least every file they copy or mount must exist, var/ must be a
    volume, and the secrets must come from the env file."""
    import yaml

    dockerfile = (PROJECT_ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    copied = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert copied and all((PROJECT_ROOT / src).exists() for group in copied for src in group)
    assert 'VOLUME ["/app/var"]' in dockerfile and "USER fanzha" in dockerfile
    compose = yaml.safe_load((PROJECT_ROOT / "deploy" / "compose.yaml").read_text("utf-8"))
    web, scheduler = compose["services"]["web"], compose["services"]["scheduler"]
    for service in (web, scheduler):
        assert "fanzha-var:/app/var" in service["volumes"]
        assert service["env_file"] == "/etc/fanzha/env"
    assert scheduler["command"] == ["python", "scheduler.py"]
    rendered = {"config.toml", "nginx-fanzha.conf"}
    mounts = [v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])]
    assert {m.split("/")[-1] for m in mounts if m.startswith("./rendered/")} == rendered
    assert rendered <= {p.name for p in (PROJECT_ROOT / "deploy" / "templates").iterdir()}


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None,
                    reason="the fanzha wrapper switches users with runuser: needs root")
def test_fanzha_wrapper_runs_bot_with_the_service_config_and_secrets(tmp_path):
    import pwd
    user = pwd.getpwuid(os.geteuid()).pw_name
    files = render_for(tmp_path, user=user)
    etc = tmp_path / "etc-fanzha"
    etc.mkdir()
    (etc / "config.toml").write_text(files["config.toml"].read_text(encoding="utf-8"))
    wrapper = tmp_path / "fanzha"
    wrapper.write_text(files["fanzha"].read_text().replace("/etc/fanzha/", f"{etc}/"))
    wrapper.chmod(0o755)
    (etc / "env").write_text("WECHAT_AES_KEY=too-short\n")
    bad = subprocess.run([str(wrapper), "check-content"], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert bad.returncode != 0 and "wechat.aes_key" in bad.stderr   # the env file was read
    (etc / "env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    good = subprocess.run([str(wrapper), "check-content"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert good.returncode == 0 and good.stdout.startswith("ok:"), good.stderr


def _docker() -> str | None:
    """The docker client, if an engine answers it."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        ok = subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return docker if ok else None


DOCKER = _docker() if os.environ.get("FANZHA_DOCKER_TEST") else None


@pytest.mark.skipif(DOCKER is None, reason="builds the image only with FANZHA_DOCKER_TEST=1 and a "
                    "Docker engine running (none runs on the development machine: the image "
                    "build is untested there)")
def test_image_builds_and_answers_healthz():
    import json
    import urllib.error
    import urllib.request

    tag = "fanzha-deploy-test:latest"
    subprocess.run([DOCKER, "build", "-f", "deploy/Dockerfile", "-t", tag, "."],
                   cwd=PROJECT_ROOT, check=True, timeout=1800)
    cid = subprocess.run([DOCKER, "run", "-d", "-p", "127.0.0.1::8000", tag], check=True,
                         capture_output=True, text=True, timeout=60).stdout.strip()
    try:
        port = subprocess.run([DOCKER, "port", cid, "8000/tcp"], check=True, capture_output=True,
                              text=True, timeout=30).stdout.split(":")[-1].strip()

        def healthz():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    return r.status, json.load(r)
            except urllib.error.HTTPError as exc:
                return exc.code, json.load(exc)

        wait_for(lambda: healthz()[0] in (200, 503), 60)
        status, body = healthz()
        assert body["checks"]["database"]["ok"] and body["checks"]["content"]["ok"]
        assert status == 503 and body["failing"] == ["scheduler"]   # no scheduler ran yet
        subprocess.run([DOCKER, "exec", cid, "python", "scheduler.py", "--once"], check=True,
                       capture_output=True, timeout=120)
        assert healthz()[0] == 200
    finally:
        subprocess.run([DOCKER, "rm", "-f", cid], capture_output=True, timeout=60)
