"""The generator as it was before: transformers' repetition penalty over the whole sequence (bench only).

transformers applies `repetition_penalty` to every token in `input_ids`, the prompt's passages
included; the product now penalises generated tokens only (bot/repetition.py). This subclass
restores the old behaviour so bench/quality.py can measure the difference in the same run.
"""

from __future__ import annotations

from typing import Any

from transformers import GenerationConfig

from bot.generation import TransformersGenerator


class WholeSequencePenaltyGenerator(TransformersGenerator):
    """A TransformersGenerator whose penalty covers prompt tokens too, and with no n-gram blocking."""

    whole_sequence_penalty: float = 1.15

    @classmethod
    def wrap(cls, generator: TransformersGenerator, penalty: float) -> WholeSequencePenaltyGenerator:
        """A second generator over the same model folder, with the old penalty."""
        twin = cls(generator.model_path, repetition_penalty=1.0, no_repeat_ngram_size=0)
        twin.whole_sequence_penalty = penalty
        return twin

    def _generation_config(self, max_new_tokens: int, temperature: float) -> GenerationConfig:
        config: Any = super()._generation_config(max_new_tokens, temperature)
        config.repetition_penalty = self.whole_sequence_penalty
        return config
