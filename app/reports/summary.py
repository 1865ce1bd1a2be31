"""What the post-incident summary message inlines from the incident's post-incident section:
the composer fills the summary template's inputs with these, and the coordinator edits them
per audience before queuing (sending it meets the 24-hour summary clock)."""

from __future__ import annotations

from app.reports.model import PostIncident

UNDER_INVESTIGATION = ("The root cause is still under investigation; we will share it when "
                       "it is confirmed.")


def summary_inputs(post: PostIncident) -> dict[str, str]:
    """Template inputs (root_cause, remediation, lessons) from the post-incident fields. Owners
    are left out: the summary goes to customers too, and names belong to the internal plan."""
    root = post.root_cause.strip()
    if not root and post.root_cause_under_investigation:
        root = UNDER_INVESTIGATION
    actions = []
    for item in post.remediation:
        if item.done:
            actions.append(f"{item.text} (done)")
        elif item.due_date:
            actions.append(f"{item.text} (by {item.due_date.day} "
                           f"{item.due_date.strftime('%B %Y')})")
        else:
            actions.append(item.text)
    return {"root_cause": root, "remediation": "\n".join(actions),
            "lessons": post.lessons_learned.strip()}
