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
        "status": str,        # queued | answered | not_image | too_large | fetch_failed |
                              # ocr_failed | no_text | busy
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


def migrate(db: Database) -> None:
    migrations.apply(db)
