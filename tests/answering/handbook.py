"""A three-page team handbook whose question reads like one page while a sentence of another answers it."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from knowledge.embedding import Embedder
from knowledge.ingest import ingest_text

INCIDENTS = ("Incident response", "# Incident response\n\nWhen an alert fires, the on-call engineer acknowledges it "
             "in PagerDuty within five minutes and opens an incident channel. Severity 1 means the whole product is "
             "down; severity 2 means one feature is degraded. The incident commander posts an update every thirty "
             "minutes until the alert resolves. If a customer reports data loss, escalate to the security lead "
             "immediately. After the incident, the owner writes a postmortem within three working days.")
SUPPORT = ("Customer support", "# Customer support\n\nCustomers report problems through the help widget, and "
           "every report becomes a Zendesk ticket. The support rota answers new tickets within four business hours. "
           "Support engineers escalate a ticket they cannot solve to the product team that owns the feature. "
           "Escalated tickets are reviewed by the support lead every Friday so customers hear back within a week.")
BACKUPS = ("Backups", "# Backups\n\nThe database is snapshotted every night and snapshots are kept for thirty "
           "days. Restores are tested once a quarter on the staging cluster.")
QUESTION = "customer ticket says data loss, who needs to know?"
"""Reads like the support page as a whole; one sentence of the incident page answers it."""


def add_handbook(sessions: sessionmaker[Session], embedder: Embedder) -> sessionmaker[Session]:
    """The three pages ingested as workspace documents; returns `sessions`."""
    for title, text in (INCIDENTS, SUPPORT, BACKUPS):
        ingest_text(sessions, embedder, title=title, text=text, fmt="markdown", uri=f"doc:{title}", source="text",
                    scope="workspace")
    return sessions
