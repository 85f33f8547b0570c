"""The Slack bot: answering pipeline, Slack listeners and the generator runtime (LLM + LoRA adapters)."""
