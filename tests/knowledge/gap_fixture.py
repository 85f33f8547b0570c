"""Questions a team bot could not answer, in known groups: the fixture of the knowledge-gap clustering.

Two disjoint sets of teammate-style questions. `TUNING_GROUPS` chose the distance threshold of
`knowledge.gaps` (the sweep is in that module's docstring); `HELD_OUT_GROUPS` was not looked at
while choosing it and is what the tests assert on. Each group is one missing document; a group of
one is a question nobody else asked.
"""

from __future__ import annotations

TUNING_GROUPS: dict[str, list[str]] = {
    "vpn": ["How do I get VPN access from home?", "the VPN keeps disconnecting, who do I ask?",
            "which VPN client do we use on Linux?", "where's the guide for setting up the VPN?"],
    "expenses": ["How do I file an expense report?", "where do I submit receipts for reimbursement?",
                 "what's the limit for meals on a business trip?", "who approves travel expenses?"],
    "on-call": ["who is on call this week?", "how do I swap an on-call shift?",
                "where's the pager rotation schedule?", "how do I get added to the on-call rotation?"],
    "staging-db": ["how do I get read access to the staging database?", "what's the password for the staging postgres?",
                   "can I connect to the staging DB from my laptop?"],
    "laptop": ["how do I request a new laptop?", "my laptop is broken, who do I contact?",
               "can I get a second monitor for my desk?"],
    "wifi": ["what's the wifi password in the Berlin office?"],
    "all-hands": ["when is the next all-hands?"],
    "git-branch": ["how do I rename a git branch?"],
}

HELD_OUT_GROUPS: dict[str, list[str]] = {
    "k8s-secrets": ["How do I rotate the Kubernetes secrets in Vault?", "where do we keep k8s secrets?",
                    "how do I update a secret in our cluster?", "vault token expired, how do I renew it?"],
    "feature-flags": ["how do I turn on a feature flag for one customer?", "where are feature flags configured?",
                      "can I roll out a flag to 10% of users?"],
    "time-off": ["how many vacation days do I get?", "how do I book time off?",
                 "is there a holiday calendar for the Berlin office?", "who approves my leave request?"],
    "ci": ["why is CI so slow on my PR?", "how do I rerun a failed GitHub Actions job?",
           "the build is red on main, who fixes it?"],
    "code-review": ["how many approvals does a PR need?", "who should review my pull request?",
                    "what's our code review checklist?"],
    "parking": ["what's the parking situation at the office?"],
    "grafana": ["how do I export a grafana dashboard?"],
}


def labelled(groups: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """(questions, their group names), in the fixture's order."""
    pairs = [(question, name) for name, questions in groups.items() for question in questions]
    return [q for q, _ in pairs], [n for _, n in pairs]
