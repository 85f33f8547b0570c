"""The learning loop: rated answers → versioned datasets → LoRA training → evaluation gate → promotion.

`training` meets the bot only through the database (answers, votes, training runs, the adapter
registry in `knowledge`); it never imports `bot` or the Slack SDKs.

Modules, in the order a run uses them:

    config.py           pure    DatasetConfig / TrainConfig / GateConfig, validated when built
    scrubbing.py        pure    secrets, emails, Slack ids, personal numbers → typed placeholders
    personal_numbers.py pure    phones, cards (Luhn), IBANs, SSNs found and validated for the scrubber
    dedupe.py           pure    exact (sha256) and near-duplicate (shingles, MinHash, Jaccard) detection
    dataset_builder.py  pure    rated answers → KTO / SFT / DPO / golden rows, split, weights, order
    dataset_files.py    adapter JSONL + manifest.json on disk, verified on every read
    artifacts.py        adapter immutable version folders: staged, published by rename
    dataset_export.py   orch    database → builder → content-addressed version folder + `datasets` row
    profiles.py         pure    cpu / gpu defaults (epochs, batches, max_length from the data, token budget)
    trainer.py          adapter TRL KTOTrainer (SFTTrainer fallback) + peft LoRA on the frozen base
    launcher.py         adapter the same training in `accelerate launch` subprocesses (DDP)
    scoring.py          adapter per-token log-likelihoods and perplexity, adapters side by side
    evaluation.py       orch    the gate: candidate vs serving vs base; `judge` holds the rules
    report.py           adapter report.json / report.md / loss.png / feedback.png per run
    pipeline.py         orch    claim → dataset → train → gate → register → promote | reject; recovery
    jobs.py             adapter procrastinate: cron retrain, poll for bot-queued runs, one at a time
    settings.py         entry   TRAINING_* environment
    ranking_votes.py    pure    👍-voted answers → (search query, first-quoted passage) pairs, split by question
    ranking_tuning.py   adapter the ranking model fine-tuned on those pairs, gated, kept as a new model folder
    __main__.py         entry   `python -m training dataset|train|evaluate|promote|rollback|worker|run|ranking|…`

Scaling past one GPU uses accelerate's DDP launcher (each process holds the frozen base and the
LoRA weights and trains a shard of every batch; the main process publishes the adapter):

    accelerate launch --multi_gpu --num_processes 4 -m training train --dataset ds-…   # manual
    TRAINING_LAUNCHER=accelerate TRAINING_NUM_PROCESSES=4 python -m training worker     # every run

For bases that no longer fit one GPU, pass an FSDP or DeepSpeed accelerate config
(`accelerate launch --config_file …`); keep the KTO per-device batch ≥ 4, since its KL estimate is
per device.
"""
