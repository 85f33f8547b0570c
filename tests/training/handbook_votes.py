"""A small handbook, one passage per topic, and teammate questions about each (the ranking-tuning tests)."""

from __future__ import annotations

from store.ranking_vectors import ChunkToRank

TOPICS = {
    1: ("Deploying", "Run make deploy from the repository root; deploys need the release role."),
    2: ("Backups", "Postgres backups run nightly at 02:00 UTC with pg_dump into the kb-backups bucket."),
    3: ("On-call", "The on-call engineer is paged through PagerDuty and rotates every Monday at 10:00."),
    4: ("Expenses", "Submit expenses in the finance portal within 30 days, with a photo of the receipt."),
    5: ("VPN", "Connect to the office VPN with WireGuard; the config file comes from the IT portal."),
    6: ("Code review", "Every pull request needs one approving review and green CI before it merges."),
    7: ("Holidays", "Book holidays in the HR system at least two weeks ahead and tell your team lead."),
    8: ("Laptops", "New laptops are ordered through the IT portal and arrive within five working days."),
}
PASSAGES = {chunk_id: ChunkToRank(chunk_id=chunk_id, title="Team handbook", heading=heading, text=text)
            for chunk_id, (heading, text) in TOPICS.items()}
TRAIN_QUESTIONS = {1: "how do I ship the service to prod?", 2: "when are the db snapshots taken?",
                   3: "who gets woken up at night when things break?", 4: "how do I get money back for a taxi?",
                   5: "how do I reach internal hosts from home?", 6: "what do I need before merging my PR?",
                   7: "how do I take a week off?", 8: "how do I get a new machine?"}
