"""Render deploy/templates for one host: systemd units, the nginx site, the production config,
the env file template, the ``fanzha`` command wrapper and the backup cron line.

    python deploy/render.py --host fanzha.example.cn --out /tmp/fanzha-deploy

Placeholders are @NAME@ (nginx's own $variables stay as they are); a placeholder left over is an
error, so a template and this script cannot drift apart silently.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def values_for(host: str, app_dir: Path, data_dir: Path, user: str, app_port: int,
               http_port: int, https_port: int, cert: str | None, cert_key: str | None,
               nginx_log_dir: str, upstream: str | None) -> dict[str, str]:
    if not HOST_RE.match(host):
        raise ValueError(f"--host {host!r}: a domain name like fanzha.example.cn")
    return {
        "HOST": host,
        "APP_DIR": str(app_dir),
        "DATA_DIR": str(data_dir),
        "USER": user,
        "APP_PORT": str(app_port),
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
        "HTTPS_AUTHORITY": host if https_port == 443 else f"{host}:{https_port}",
        "CERT": cert or f"/etc/letsencrypt/live/{host}/fullchain.pem",
        "CERT_KEY": cert_key or f"/etc/letsencrypt/live/{host}/privkey.pem",
        "NGINX_LOG_DIR": nginx_log_dir,
        "UPSTREAM": upstream or f"127.0.0.1:{app_port}",
    }


def render_text(text: str, values: dict[str, str], name: str = "template") -> str:
    def sub(m):
        if m.group(1) not in values:
            raise KeyError(f"{name}: unknown placeholder @{m.group(1)}@")
        return values[m.group(1)]
    return PLACEHOLDER.sub(sub, text)


def render_all(out: Path, values: dict[str, str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for template in sorted(TEMPLATES.iterdir()):
        target = out / template.name
        target.write_text(render_text(template.read_text(encoding="utf-8"), values,
                                      template.name), encoding="utf-8")
        shutil.copymode(template, target)   # the fanzha wrapper stays executable
        written.append(target)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True, help="public domain name (ICP-filed, for WeChat)")
    ap.add_argument("--out", required=True, type=Path, help="directory to write into")
    ap.add_argument("--app-dir", type=Path, default=Path("/srv/fanzha"),
                    help="the git checkout with its .venv (default /srv/fanzha)")
    ap.add_argument("--data-dir", type=Path, default=Path("/var/lib/fanzha"),
                    help="database and scheduler lock (default /var/lib/fanzha, systemd's "
                         "StateDirectory)")
    ap.add_argument("--user", default="fanzha", help="unprivileged service user")
    ap.add_argument("--app-port", type=int, default=8000, help="gunicorn on 127.0.0.1")
    ap.add_argument("--http-port", type=int, default=80)
    ap.add_argument("--https-port", type=int, default=443)
    ap.add_argument("--cert", help="certificate chain (default: Let's Encrypt's path)")
    ap.add_argument("--cert-key", help="certificate key (default: Let's Encrypt's path)")
    ap.add_argument("--nginx-log-dir", default="/var/log/nginx")
    ap.add_argument("--upstream", help="where nginx finds the app (default 127.0.0.1:APP_PORT)")
    args = ap.parse_args(argv)
    try:
        values = values_for(args.host, args.app_dir.resolve() if args.app_dir.exists()
                            else args.app_dir, args.data_dir, args.user, args.app_port,
                            args.http_port, args.https_port, args.cert, args.cert_key,
                            args.nginx_log_dir, args.upstream)
        for path in render_all(args.out, values):
            print(path)
    except (ValueError, KeyError) as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
