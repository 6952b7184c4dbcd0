"""A :class:`~halo_automate.core.notice.Notice` in the shape each channel documents. Pure.

* **Slack** incoming webhook: ``{"text": fallback, "blocks": [...]}`` with Block Kit
  ``header``, ``section`` (``mrkdwn`` text and ``fields``) and ``actions`` (a ``button`` with
  ``url``) blocks; ``&``, ``<`` and ``>`` escaped as Slack's mrkdwn requires.
* **Microsoft Teams** Workflows webhook: ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <AdaptiveCard
  1.4: TextBlock, FactSet, Action.OpenUrl>}]}``, the body the "Post to a channel when a
  webhook request is received" workflow expects.
* **Generic webhook**: :meth:`Notice.to_json` (``event``, ``playbook``, ``instance``,
  ``run_id``, ``counts``, ...).
* **E-mail**: a subject line and a plain-text body.
"""

from __future__ import annotations

from typing import Any

from halo_automate.core.notice import Notice

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def _counts_line(notice: Notice) -> str:
    c = notice.counts
    return (
        f"matched {c.get('matched', 0)}, planned {c.get('planned', 0)}, changed "
        f"{c.get('changed', 0)}, skipped {c.get('skipped', 0)}, failed {c.get('failed', 0)}"
    )


def _clients_line(notice: Notice) -> str:
    shown = ", ".join(f"{name}: {n}" for name, n in notice.per_client[:8])
    rest = len(notice.per_client) - 8
    return shown + (f", and {rest} more clients" if rest > 0 else "")


def change_texts(notice: Notice) -> list[str]:
    """One line per listed change, then how many more."""
    lines = []
    for c in notice.changes:
        fields = "; ".join(f"{name}: {b} → {a}" for name, b, a in c.fields)
        actions = ", ".join(c.actions)
        what = "; ".join(part for part in (fields, actions and f"actions: {actions}") if part)
        lines.append(f"#{c.ticket_id} {c.client}: {c.summary} ({what})")
    if notice.more_changes:
        lines.append(f"… and {notice.more_changes} more")
    return lines


def facts(notice: Notice) -> list[tuple[str, str]]:
    """Title/value pairs every channel shows."""
    rows = [
        ("Playbook", notice.playbook),
        ("Instance", notice.instance),
        ("Run", notice.run_id),
        ("Status", notice.status),
        ("Counts", _counts_line(notice)),
    ]
    if notice.per_client:
        rows.append(("Per client", _clients_line(notice)))
    if notice.expires_at:
        rows.append(("Expires", notice.expires_at))
    if notice.command:
        rows.append(("Next", notice.command))
    return rows


def plain_text(notice: Notice) -> str:
    """The message as plain text (e-mail body, Slack's fallback ``text``)."""
    lines = [notice.title, ""]
    lines += [f"{title}: {value}" for title, value in facts(notice)]
    if notice.message:
        lines += ["", notice.message]
    if notice.changes:
        lines += ["", "Changes:"] + [f"  {line}" for line in change_texts(notice)]
    if notice.link:
        lines += ["", f"Open the run: {notice.link}"]
    return "\n".join(lines)


# ---------------------------------------------------------------------- Slack


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook message (Block Kit, with a plain ``text`` fallback)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": notice.title[:150]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{title}*\n{_mrkdwn(value)}"}
                for title, value in facts(notice)[:10]
            ],
        },
    ]
    if notice.message:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(notice.message)}}
        )
    if notice.changes:
        listed = "\n".join(f"• {_mrkdwn(line)}" for line in change_texts(notice))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": listed[:2900]}})
    if notice.link:
        button = {"type": "plain_text", "text": "Open the run"}
        blocks.append(
            {
                "type": "actions",
                "elements": [{"type": "button", "text": button, "url": notice.link}],
            }
        )
    return {"text": _mrkdwn(plain_text(notice))[:3000], "blocks": blocks}


# ---------------------------------------------------------------------- Teams


def teams_payload(notice: Notice) -> dict[str, Any]:
    """A Teams Workflows webhook message: one Adaptive Card (1.4) as an attachment."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": notice.title, "weight": "Bolder", "size": "Medium",
         "wrap": True},
        {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts(notice)]},
    ]  # fmt: skip
    if notice.message:
        body.append({"type": "TextBlock", "text": notice.message, "wrap": True})
    if notice.changes:
        body.append({"type": "TextBlock", "text": "Changes", "weight": "Bolder", "wrap": True})
        body += [
            {"type": "TextBlock", "text": line, "wrap": True, "spacing": "None"}
            for line in change_texts(notice)
        ]
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if notice.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the run", "url": notice.link}]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


# ---------------------------------------------------------------------- webhook, e-mail


def webhook_payload(notice: Notice) -> dict[str, Any]:
    """The generic JSON webhook's body (docs/notifications.md)."""
    return notice.to_json()


def email_subject(notice: Notice) -> str:
    planned = notice.counts.get("planned", 0)
    return f"[halo-automate] {notice.title}: {planned} tickets"
