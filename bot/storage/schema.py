"""The schema as sqlite-utils ``Migrations``: each step runs once, in a transaction with its
record, so ``init-db`` is safe to run again. Constraints carry invariants (a UNIQUE key on
(group, slot, message) in the push log makes a double send impossible to record).
"""
from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("bot")


@migrations()
def m001_content_and_questions(db: Database) -> None:
    # Articles keep their whole Markdown source: the same parser validates files and admin
    # edits, and export-content writes the source back unchanged.
    db["cases"].create({
        "id": str, "category": str, "title": str, "source": str,
        "status": str,        # draft | published | archived
        "origin": str,        # content (from content/) | admin (made or edited by an admin)
        "created_at": str, "updated_at": str,
    }, pk="id", not_null={"category", "title", "source", "status", "origin"})
    db["cases"].create_index(["category"])
    db["tips"].create({
        "id": str, "title": str, "source": str, "status": str, "origin": str,
        "created_at": str, "updated_at": str,
    }, pk="id", not_null={"title", "source", "status", "origin"})
    db["questions"].create({
        "id": int, "asked_at": str, "channel": str, "user_hash": str, "text": str,
        "category": str, "urgent": int, "score": float, "case_id": str,
    }, pk="id")
    db["questions"].create_index(["asked_at"])
    db["questions"].create_index(["category"])
    # One row per WeChat delivery key: a redelivery finds the row and gets the same reply.
    db["wechat_deliveries"].create({
        "key": str, "received_at": float, "reply": str,
    }, pk="key")
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["meta"].insert({"key": "content_version", "value": "0"})


@migrations()
def m002_delivery_age_index(db: Database) -> None:
    # Old deliveries are pruned by age (their replies hold OpenIDs).
    db["wechat_deliveries"].create_index(["received_at"])


@migrations()
def m003_pushes(db: Database) -> None:
    # The push log is the truth for the scheduler: a row is written *before* a send, so a
    # crash can never lead to a second send of the same (group, slot, message).
    db["pushes"].create({
        "id": int, "group_id": str, "slot": str,  # slot: ISO time with offset
        "message_key": str,   # 'tip' for the slot's tip, 'alert:<id>', 'manual:<time>'
        "item_kind": str, "item_id": str, "channel": str,
        "status": str,        # sending | sent | failed | skipped | missed | unknown
        "errcode": int, "errmsg": str, "attempts": int, "text": str,
        "created_at": str, "updated_at": str, "sent_at": str, "next_attempt_at": str,
    }, pk="id", not_null={"group_id", "slot", "message_key", "status", "attempts"},
        defaults={"attempts": 0})
    db["pushes"].create_index(["group_id", "slot", "message_key"], unique=True)
    db["pushes"].create_index(["status", "next_attempt_at"])
    db["pushes"].create_index(["group_id", "item_id"])
    db["alerts"].create({
        "id": int, "item_kind": str, "item_id": str, "groups": str,  # JSON list, or null = all
        "note": str, "created_by": str, "created_at": str, "active": int,
    }, pk="id", not_null={"item_kind", "item_id", "created_at"}, defaults={"active": 1})
    db["outbox"].create({
        "id": int, "push_id": int, "group_id": str, "msgtype": str, "payload": str,
        "created_at": str,
    }, pk="id")
    db["group_health"].create({
        "group_id": str, "healthy": int, "reason": str, "errcode": int, "key_fingerprint": str,
        "updated_at": str,
    }, pk="group_id")
    db["meta"].insert({"key": "scheduler_last_tick", "value": ""}, replace=True)


@migrations()
def m004_delivery_records_its_question(db: Database) -> None:
    # A first delivery is recorded with ONE statement: the delivery row carries its question,
    # and this trigger copies it into the question log in the same statement. An ignored
    # (duplicate) insert fires nothing, so a redelivery can never log twice.
    for column in ("q_asked_at", "q_channel", "q_user_hash", "q_text", "q_category", "q_case_id"):
        db["wechat_deliveries"].add_column(column, str)
    db["wechat_deliveries"].add_column("q_urgent", int)
    db["wechat_deliveries"].add_column("q_score", float)
    db.execute("""
        CREATE TRIGGER delivery_logs_question AFTER INSERT ON wechat_deliveries
        WHEN NEW.q_text IS NOT NULL BEGIN
            INSERT INTO questions (asked_at, channel, user_hash, text, category, urgent, score,
                                   case_id)
            VALUES (NEW.q_asked_at, NEW.q_channel, NEW.q_user_hash, NEW.q_text, NEW.q_category,
                    NEW.q_urgent, NEW.q_score, NEW.q_case_id);
        END""")


@migrations()
def m005_admin(db: Database) -> None:
    db["admins"].create({
        "id": int, "name": str, "password_hash": str, "role": str,  # admin | editor
        "created_at": str, "disabled": int,
    }, pk="id", not_null={"name", "password_hash", "role"}, defaults={"disabled": 0})
    db["admins"].create_index(["name"], unique=True)
    db["login_failures"].create({"id": int, "at": float, "address": str, "name": str}, pk="id")
    db["login_failures"].create_index(["at"])
    # Every admin action: who, what, when, and the row before and after (JSON).
    db["audit_log"].create({
        "id": int, "at": str, "actor": str, "action": str, "target_kind": str,
        "target_id": str, "before": str, "after": str,
    }, pk="id")
    db["audit_log"].create_index(["at"])
    # Every saved version of a case or tip; nothing is ever deleted.
    db["item_versions"].create({
        "id": int, "kind": str, "item_id": str, "version": int, "source": str, "status": str,
        "editor": str, "at": str, "note": str,
    }, pk="id", not_null={"kind", "item_id", "version", "source"})
    db["item_versions"].create_index(["kind", "item_id", "version"], unique=True)


@migrations()
def m0108_hardening_nonces(db: Database) -> None:
    # Plaintext mode: the signature covers timestamp and nonce, not the body, so one signed URL
    # could carry any message. Each delivery records its (timestamp, nonce); the UNIQUE index
    # lets it carry one message only (a retry of the same message still gets its reply).
    db["wechat_deliveries"].add_column("nonce", str)
    db["wechat_deliveries"].create_index(["nonce"], unique=True)


@migrations()
def m0108_hardening_sessions(db: Database) -> None:
    # Copied into the session at sign-in, compared on every request: signing out, a password
    # change or reset and disabling bump it, ending every session of the account.
    db["admins"].add_column("session_version", int, not_null_default=0)
    # Failed sign-ins are counted per (address, name).
    db["login_failures"].create_index(["address", "name", "at"])


@migrations()
def m0110_api_token(db: Database) -> None:
    # The official account's access token, shared by every worker and the scheduler: one row
    # per AppID. ``refreshing_until`` is a lease: the one process that set it fetches a new
    # token (outside any transaction) while the others wait for the row to change.
    db["api_tokens"].create({
        "app_id": str, "access_token": str, "expires_at": float, "refreshing_until": float,
        "refreshed_at": str,
    }, pk="app_id", defaults={"expires_at": 0, "refreshing_until": 0})


@migrations()
def m0110_alert_once_per_group(db: Database) -> None:
    # An alert can now also be sent at once (admin button, ``push --alert``), not only at a
    # group's next slot: one live row per (group, alert) makes a second send impossible to
    # record, whichever process tries it. Skipped/missed rows are not sends.
    duplicates = db.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM pushes WHERE message_key LIKE 'alert:%' "
        "AND status IN ('sending', 'sent', 'unknown', 'failed') "
        "GROUP BY group_id, message_key HAVING COUNT(*) > 1)").fetchone()[0]
    if duplicates:   # an old race left two; keep the rows, the planner still sends once
        return
    db.execute("CREATE UNIQUE INDEX idx_pushes_alert_once ON pushes (group_id, message_key) "
               "WHERE message_key LIKE 'alert:%' "
               "AND status IN ('sending', 'sent', 'unknown', 'failed')")


@migrations()
def m0111_channels_receipts(db: Database) -> None:
    # What happened to a push after it left us (issue 11): per pushed group, the mass-send
    # task WeCom reported on, or the grid worker's relay. One row per push; the push log says
    # whether it left, this says whether it arrived.
    db["receipts"].create({
        "id": int, "push_id": int, "group_id": str, "slot": str, "channel": str,
        "route": str,         # the customer group's owner (userid) or the grid worker id
        "msgid": str,         # WeCom's mass-send task id
        "chat_id": str,
        "state": str,         # awaiting | confirmed | relayed | not_sent | failed | expired
        "detail": str,
        "handed_at": str,     # sent to WeCom / to the worker
        "final_at": str,      # confirmed, relayed, or given up
        "next_poll_at": str, "polls": int, "expires_at": str, "reminded_at": str,
        "created_at": str,
    }, pk="id", not_null={"push_id", "group_id", "slot", "channel", "state"},
        defaults={"polls": 0})
    db["receipts"].create_index(["push_id"], unique=True)
    db["receipts"].create_index(["state", "channel", "next_poll_at"])
    db["receipts"].create_index(["group_id", "slot"])
    db["receipts"].create_index(["msgid"])
    # The WeCom app's access token, shared by every process; refreshed under a lease so that
    # only one process asks gettoken at a time (a new token invalidates the old one).
    db["wecom_tokens"].create({
        "name": str, "token": str, "expires_at": float, "lease_until": float,
        "refreshed_at": str,
    }, pk="name")


@migrations()
def m0112_campaign(db: Database) -> None:
    # Villages (村/社区) and their grids (网格); the campaign's figures are per village and grid.
    db["villages"].create({
        "id": str, "name": str, "town": str, "created_at": str, "updated_at": str,
    }, pk="id", not_null={"name"})
    db["grids"].create({
        "id": str, "village_id": str, "name": str, "households": int, "population": int,
        "created_at": str, "updated_at": str,
    }, pk="id", not_null={"village_id", "name"}, defaults={"households": 0, "population": 0},
        foreign_keys=[("village_id", "villages", "id")])
    db["grids"].create_index(["village_id"])
    # Which grids a grid worker (role 'grid') may see and edit.
    db["account_grids"].create({"account_id": int, "grid_id": str},
                               pk=("account_id", "grid_id"),
                               foreign_keys=[("account_id", "admins", "id"),
                                             ("grid_id", "grids", "id")])
    # Households: an address or house number within a grid, a surname and a masked phone at
    # most (personal information: nothing more is ever stored).
    db["households"].create({
        "id": int, "grid_id": str, "address": str, "head_surname": str, "phone_masked": str,
        "created_at": str, "updated_at": str,
    }, pk="id", not_null={"grid_id", "address"}, foreign_keys=[("grid_id", "grids", "id")])
    db["households"].create_index(["grid_id", "address"], unique=True)
    # One row per visit (入户宣传登记); submission_id (made by the form) makes a retried
    # submission land once. village_id is copied from the grid, and each visit knows the dates
    # of the household's visits before and after it, so the figures need no per-household
    # grouping: the latest status as of D is the visit with visit_date <= D < next_visit_date,
    # and a visit is its household's first in a period when prev_visit_date is before it.
    db["visits"].create({
        "id": int, "submission_id": str, "household_id": int, "grid_id": str,
        "village_id": str, "visit_date": str, "prev_visit_date": str, "next_visit_date": str,
        "people_present": int, "key_groups": str,
        "materials": str, "app_status": str, "app_reason": str, "pledge": int, "notes": str,
        "is_recheck": int, "recheck_lost": int, "recorded_by": str, "recorded_at": str,
    }, pk="id", not_null={"submission_id", "household_id", "grid_id", "village_id",
                          "visit_date", "app_status"},
        defaults={"people_present": 0, "pledge": 0, "is_recheck": 0, "recheck_lost": 0},
        foreign_keys=[("household_id", "households", "id")])
    db["visits"].create_index(["submission_id"], unique=True)
    db["visits"].create_index(["household_id", "visit_date", "id"])
    db["visits"].create_index(["village_id", "visit_date"])
    # Covering indexes of the two figure queries (bench/campaign_bench.py).
    db["visits"].create_index(["grid_id", "visit_date", "next_visit_date", "app_status"],
                              index_name="visits_status_as_of")
    db["visits"].create_index(["grid_id", "visit_date", "prev_visit_date", "household_id",
                               "is_recheck", "recheck_lost", "pledge"],
                              index_name="visits_in_period")
    # 发案 and 损失 per village and month, entered by police.
    db["village_cases"].create({
        "village_id": str, "month": str, "cases": int, "losses": float, "entered_by": str,
        "updated_at": str,
    }, pk=("village_id", "month"), not_null={"cases", "losses"},
        foreign_keys=[("village_id", "villages", "id")])
    # Followers who came through a village's QR code: a hashed openid and the village only.
    db["village_followers"].create({"user_hash": str, "village_id": str, "bound_at": str},
                                   pk="user_hash")
    db["village_followers"].create_index(["village_id"])


@migrations()
def m0113_residents_loop(db: Database) -> None:
    # Issue 13. The admin-kept list of known scam and official links/numbers.
    db["watchlist"].create({
        "id": int, "kind": str, "value": str, "verdict": str,  # scam | official
        "note": str, "added_by": str, "added_at": str, "active": int,
    }, pk="id", not_null={"kind", "value", "verdict"}, defaults={"active": 1})
    db["watchlist"].create_index(["kind", "value"], unique=True)
    # 举报 leads: one row per finished conversation; its links/numbers in lead_items, grouped
    # by ``key`` (a hash of kind and value) and counted by distinct residents.
    db["leads"].create({
        "id": int, "created_at": str, "user_hash": str, "what": str, "detail": str,
        "happened": str, "screenshots": int, "screenshot_text": str,
        "complete": int,      # 0: the resident stopped answering half-way (kept, not lost)
        "status": str,        # new | checked | passed | not_actionable
        "status_note": str, "updated_at": str, "updated_by": str,
    }, pk="id", not_null={"created_at", "status"}, defaults={"screenshots": 0, "complete": 1})
    db["leads"].create_index(["status", "created_at"])
    db["lead_items"].create({
        "id": int, "lead_id": int, "kind": str, "value": str, "masked": str, "key": str,
        "user_hash": str,
    }, pk="id", foreign_keys=[("lead_id", "leads", "id")])
    db["lead_items"].create_index(["key"])
    # A 举报 conversation in progress, one per resident; stale ones are ignored and replaced.
    db["lead_sessions"].create({
        "user_hash": str, "step": str, "data": str, "updated_at": str,
    }, pk="user_hash")
    # 有用 / 没用 on an answer, from the case page or a "没用" typed in WeChat.
    db["feedback"].create({
        "id": int, "at": str, "channel": str, "case_id": str, "question_id": int,
        "user_hash": str, "useful": int, "reason": str,
    }, pk="id", not_null={"at", "channel", "useful"})
    db["feedback"].create_index(["case_id"])


@migrations()
def m0113_screenshots_and_outreach(db: Database) -> None:
    # Issue 13. Open customer-service windows: the OpenID is kept only while it is open.
    db["cs_windows"].create({"user_hash": str, "openid": str, "wrote_at": str}, pk="user_hash")
    db["cs_windows"].create_index(["wrote_at"])
    # Every message sent later, written before the send: UNIQUE (user, purpose) = never twice.
    db["cs_messages"].create({
        "id": int, "user_hash": str, "purpose": str,
        "status": str,        # sending | sent | failed | closed | quota
        "errcode": int, "errmsg": str, "created_at": str, "sent_at": str,
    }, pk="id", not_null={"user_hash", "purpose", "status"})
    db["cs_messages"].create_index(["user_hash", "purpose"], unique=True)
    # One row per screenshot: what became of it (the picture itself is never stored).
    db["screenshot_jobs"].create({
        "id": int, "delivery_key": str, "user_hash": str, "received_at": str,
        "status": str,        # queued | answered | read (a 举报's) | not_image | too_large |
                              # fetch_failed | ocr_failed | no_text | busy
        "chars": int, "seconds": float, "send_status": str, "finished_at": str,
    }, pk="id", not_null={"delivery_key", "status"})
    db["screenshot_jobs"].create_index(["delivery_key"], unique=True)
    # Answers that came later: one row per question that an edited case now answers.
    db["late_answers"].create({
        "question_id": int, "user_hash": str, "case_id": str, "found_at": str,
        "status": str,        # sent | pending (window closed: shown at the next message) |
                              # shown | failed
    }, pk="question_id")
    db["late_answers"].create_index(["user_hash", "status"])


@migrations()
def m0114_lead_screenshots(db: Database) -> None:
    # Issue 13. A 举报 screenshot is read after its conversation may have ended: the job names
    # the lead its text joins (NULL while the conversation goes on, and outside a 举报).
    db["screenshot_jobs"].add_column("lead_id", int)


def migrate(db: Database) -> None:
    migrations.apply(db)
