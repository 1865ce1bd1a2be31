"""The post-incident summary's inputs come from the post-incident fields."""

from datetime import date

from app.reports.model import PostIncident, RemediationItem
from app.reports.summary import UNDER_INVESTIGATION, summary_inputs


def test_fields_become_the_summary_inputs_without_owners():
    post = PostIncident(
        incident_id=1, root_cause="An expired signing certificate.",
        root_cause_under_investigation=False, lessons_learned="Expiry was not monitored.",
        remediation=(RemediationItem(1, "Renew the certificate", "Ben Ortiz", None, True),
                     RemediationItem(2, "Alert 30 days before expiry", "Alex Novak",
                                     date(2026, 3, 10)),
                     RemediationItem(3, "Review the runbook")))
    inputs = summary_inputs(post)
    assert inputs["root_cause"] == "An expired signing certificate."
    assert inputs["remediation"].splitlines() == [
        "Renew the certificate (done)", "Alert 30 days before expiry (by 10 March 2026)",
        "Review the runbook"]
    assert "Ben Ortiz" not in inputs["remediation"] and "Alex" not in inputs["remediation"]
    assert inputs["lessons"] == "Expiry was not monitored."


def test_an_open_root_cause_says_so():
    inputs = summary_inputs(PostIncident(incident_id=1))
    assert inputs["root_cause"] == UNDER_INVESTIGATION
    assert inputs["remediation"] == "" and inputs["lessons"] == ""
