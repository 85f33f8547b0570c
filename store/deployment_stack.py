"""What a deployment log serves after its rollbacks: the log read as a stack (pure).

Both registries of what serves (LoRA adapters, `store.adapter_registry`; ranking models,
`store.ranking_registry`) are append-only logs whose newest row names what serves, and whose
rollbacks re-serve what served before. Read as a stack, a deployment pushes and a rollback pops, so
A, B, rollback serves A, and a second rollback serves what preceded A, never B again.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

Target = TypeVar("Target", bound=Hashable)


def serving_stack(log: Iterable[tuple[bool, Target]], default: Target) -> list[Target]:
    """What served, innermost last, after replaying `log` oldest first.

    Args:
        log: (is a rollback, what the entry serves) per entry, oldest first.
        default: what serves when the stack is empty (the base model, the configured ranking model).
    """
    stack: list[Target] = []
    for is_rollback, target in log:
        if is_rollback:
            if stack:
                stack.pop()
            # A rollback re-serves what is now on top; keep the stack consistent if the log disagrees.
            if (stack[-1] if stack else default) != target:
                stack.append(target)
        else:
            stack.append(target)
    return stack


def rollback_target(stack: list[Target], default: Target) -> Target:
    """What a rollback would serve now: the entry below the top, skipping repeats of the top (the same
    target deployed twice in a row); `default` when nothing is left."""
    rest = list(stack)
    current = rest.pop() if rest else default
    while rest and rest[-1] == current:
        rest.pop()
    return rest[-1] if rest else default
