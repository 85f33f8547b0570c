"""The product's database: schema, connections, migrations, and one store module per thing kept.

Where things live: answers, votes and corrections (`store.interactions`), Slack delivery claims
(`store.slack_events`), the adapter registry (`store.adapter_registry`), training runs and their
claims (`store.training_runs`, `store.run_claims`, `store.run_locks`), dataset rows and versions
(`store.datasets_store`, `store.dataset_changes`), verified answers, escalations, notices, and the
App Home's read-only views (`store.insight`). Documents and chunks are declared in `store.schema`
too; what they mean (extraction, chunking, embedding, ingest, search) is `knowledge`'s.

Dependency rule (tests/test_layering.py): `store` imports none of `bot`, `knowledge`, `training`;
`knowledge` may import `store`; `bot` and `training` import both and never each other.
"""
