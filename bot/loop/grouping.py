"""Unanswered and low-confidence questions grouped by similarity (Jaccard of characters and
character bigrams, function words left out; a question joins the group of its most similar
earlier question), ranked by how many distinct residents asked, newest first. Pure."""
from __future__ import annotations

import re

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


_STOP = set("的吗了是我要给说吧呢啊这那个有你他她么吧呀在就也都还")


def bigrams(text: str) -> frozenset[str]:
    s = _DROP.sub("", text.lower())
    return frozenset(s[i:i + 2] for i in range(len(s) - 1)) | frozenset(
        ch for ch in s if ch not in _STOP)


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def group_questions(rows: list[dict], threshold: float = 0.3) -> list[dict]:
    """``rows``: dicts with id, text, user_hash, asked_at (any order). Each group has the newest
    question as its representative, its members, and the number of distinct residents."""
    groups: list[dict] = []
    for row in sorted(rows, key=lambda r: (r["asked_at"], r["id"]), reverse=True):
        grams = bigrams(row["text"])
        score, best = max(((max(jaccard(grams, m) for m in g["grams"]), g) for g in groups),
                          key=lambda pair: pair[0], default=(0.0, None))
        if best is not None and score >= threshold:
            best["members"].append(row)
            best["grams"].append(grams)
            best["users"].add(row["user_hash"] or f"anon{row['id']}")
        else:
            groups.append({"grams": [grams], "lead": row, "members": [row],
                           "users": {row["user_hash"] or f"anon{row['id']}"}})
    for g in groups:
        g["askers"] = len(g.pop("users"))
        del g["grams"]
    # Groups were made newest first; a stable sort keeps that order among equal counts.
    return sorted(groups, key=lambda g: -g["askers"])
