"""Campaign benchmark: a county of 300 villages, 10 grids each, 300,000 households and two
visits per household per year (600,000 visits), plus 发案/损失 for two years and 20,000 bound
followers. Seeded with a fixed random seed.

Measures (goals from issue 12): the monthly 通报 computed and written as XLSX (< 5 s), the
console's 通报 page (< 5 s), and saving one visit through the form, the real Flask view with
its CSRF token and grid check (< 200 ms; median and worst of 200 saves).

usage: .venv/bin/python bench/campaign_bench.py [--villages 300] [--households 300000]
"""
from __future__ import annotations

import argparse
import io
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from werkzeug.security import generate_password_hash  # noqa: E402

from bot import create_app  # noqa: E402
from bot.campaign.tongbao import monthly_tongbao, tongbao_workbook  # noqa: E402
from bot.storage.db import connect, utcnow_iso  # noqa: E402
from bot.storage.library import init_db  # noqa: E402
from conftest import make_settings  # noqa: E402

STATUSES = ["not_installed", "installed", "registered", "warnings_on"]
MONTH = "2026-11"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def seed(db, villages: int, households: int) -> None:
    rng = random.Random(12)
    grids_per_village = 10
    per_grid = households // (villages * grids_per_village)
    now = utcnow_iso()
    db.execute("BEGIN")
    grid_ids = []
    for v in range(villages):
        vid = f"v{v:03d}"
        db.execute("INSERT INTO villages VALUES (?, ?, ?, ?, ?)", [vid, f"第{v}村", "县城", now, now])
        for g in range(grids_per_village):
            gid = f"{vid}-g{g}"
            grid_ids.append((gid, vid))
            db.execute("INSERT INTO grids VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [gid, vid, f"{g + 1}网格", per_grid, per_grid * 3, now, now])
    homes, visits = [], []
    hid = 0
    start = date(2026, 1, 5)
    for gid, vid in grid_ids:
        for n in range(per_grid):
            hid += 1
            homes.append((hid, gid, f"{n + 1}号", "王", "", now, now))
            first = start + timedelta(days=rng.randrange(0, 150))
            second = first + timedelta(days=rng.randrange(120, 200))
            s1 = rng.choice(STATUSES)
            s2 = rng.choice(STATUSES)
            again = second <= date(2026, 11, 30)
            visits.append((f"b{hid}a", hid, gid, vid, first.isoformat(), None,
                           second.isoformat() if again else None, 2, "elderly", "leaflet",
                           s1, "", 1, "", 0, 0, "bench", now))
            if again:
                lost = int(s1 != "not_installed" and s2 == "not_installed")
                visits.append((f"b{hid}b", hid, gid, vid, second.isoformat(), first.isoformat(),
                               None, 1, "", "", s2, "", 0, "", 1, lost, "bench", now))
    db.conn.executemany("INSERT INTO households VALUES (?, ?, ?, ?, ?, ?, ?)", homes)
    db.conn.executemany(
        "INSERT INTO visits (submission_id, household_id, grid_id, village_id, visit_date, "
        "prev_visit_date, next_visit_date, people_present, key_groups, materials, app_status, "
        "app_reason, pledge, notes, is_recheck, recheck_lost, recorded_by, recorded_at) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", visits)
    for v in range(villages):
        for m in range(1, 13):
            for year in (2025, 2026):
                db.execute("INSERT INTO village_cases VALUES (?, ?, ?, ?, ?, ?)",
                           [f"v{v:03d}", f"{year}-{m:02d}", rng.randrange(0, 4),
                            rng.randrange(0, 50000), "bench", now])
    db.conn.executemany("INSERT INTO village_followers VALUES (?, ?, ?)",
                        [(f"h{i:015d}", f"v{i % villages:03d}", now) for i in range(20000)])
    db.execute("COMMIT")
    db.execute("ANALYZE")
    print(f"seeded {villages} villages, {len(grid_ids)} grids, {len(homes)} households, "
          f"{len(visits)} visits")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--villages", type=int, default=300)
    parser.add_argument("--households", type=int, default=300000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="campaign-bench-"))
    settings = make_settings(folder)
    db = connect(settings.database.path)
    init_db(db, settings.content.dir)
    t = time.perf_counter()
    seed(db, args.villages, args.households)
    print(f"seeding: {time.perf_counter() - t:.1f} s")

    runs = []
    for _ in range(3):
        t = time.perf_counter()
        data = monthly_tongbao(db, settings, MONTH)
        computed = time.perf_counter() - t
        buffer = io.BytesIO()
        tongbao_workbook(data).save(buffer)
        runs.append((computed, time.perf_counter() - t))
    print(f"monthly 通报 {MONTH} ({len(data['rows'])} villages), 3 runs: computed "
          f"{', '.join(f'{c:.2f}' for c, _ in runs)} s; with XLSX "
          f"{', '.join(f'{w:.2f}' for _, w in runs)} s (goal < 5 s)")

    app = create_app(settings)
    app.config["NOW"] = NOW
    database = app.extensions["db"]()
    database["admins"].insert({"name": "town", "password_hash": generate_password_hash(
        "bench-password-1", method="pbkdf2:sha256:1000"), "role": "admin", "created_at": "",
        "disabled": 0})
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/admin/login", data={"csrf_token": token, "name": "town",
                                      "password": "bench-password-1"})
    t = time.perf_counter()
    r = client.get(f"/admin/campaign/tongbao?month={MONTH}")
    page_time = time.perf_counter() - t
    assert r.status_code == 200, r.status_code
    print(f"通报 page: {page_time:.2f} s (goal < 5 s)")

    form = client.get("/admin/grids/v123-g4/visit").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    times = []
    for i in range(200):
        data = {"csrf_token": token, "submission_id": f"bench-save-{i:06d}",
                "address": f"{i % 150 + 1}号", "visit_date": "2026-12-01", "people_present": "2",
                "app_status": "warnings_on", "key_groups": ["elderly"], "pledge": "1"}
        t = time.perf_counter()
        r = client.post("/admin/grids/v123-g4/visit", data=data)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 303, r.status_code
    print(f"visit save (form POST): median {statistics.median(times):.1f} ms, "
          f"max {max(times):.1f} ms over {len(times)} saves (goal < 200 ms)")


if __name__ == "__main__":
    main()
