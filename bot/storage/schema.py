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


def migrate(db: Database) -> None:
    migrations.apply(db)
