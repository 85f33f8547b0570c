"""The LoRA adapters loaded onto one base model, and which of them is active (adapter over peft).

The first adapter wraps the base model in a `PeftModel` (`PeftModel.from_pretrained`); later ones
are added with `load_adapter`. Recently used adapters stay loaded, up to a bound, so switching back
(a rollback) is a pointer change. A load that fails for any reason leaves the model exactly as it
was: the files are checked before peft touches the model, and whatever peft injected before failing
is removed again.

Not thread-safe: peft's `set_adapter`/`disable_adapter_layers` change the model for every caller,
so `bot.generation.TransformersGenerator` calls this only while no generation runs.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from bot.generator_protocol import BASE_ADAPTER_NAME, AdapterLoadError

logger = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class LoraAdapterSet:
    """Adapters for `base`, at most `max_loaded` in memory, one (or none: the base) active."""

    def __init__(self, base: torch.nn.Module, *, max_loaded: int = 3) -> None:
        self._base = base
        self._model: Any = base  # a PeftModel wrapping `base` once the first adapter loaded
        self._max_loaded = max(1, max_loaded)
        self._loaded: OrderedDict[str, Path] = OrderedDict()  # name -> path, least recently used first
        self._active = BASE_ADAPTER_NAME

    @property
    def model(self) -> Any:
        """The module to generate with: the base model, or the PeftModel around it."""
        return self._model

    @property
    def active(self) -> str:
        """Name of the active adapter, or "base"."""
        return self._active

    @property
    def loaded(self) -> tuple[str, ...]:
        """Adapters held in memory, least recently used first."""
        return tuple(self._loaded)

    def use(self, name: str, path: Path) -> None:
        """Make adapter `name` (files in `path`) active, loading it unless it is already loaded.

        Raises:
            AdapterLoadError: missing or unreadable files, a mismatch with the base model, or a
                name already loaded from another folder; the previous adapter stays active.
        """
        path = Path(path)
        if name in self._loaded:
            if self._loaded[name] != path:
                raise AdapterLoadError(
                    f"Adapter {name!r} is already loaded from {self._loaded[name]}, not {path}; "
                    "adapter versions are immutable, so register the new files under a new name."
                )
            self._activate(name)
            return
        _check_adapter_files(name, path)
        previous = self._active
        try:
            if self._model is self._base:
                from peft import PeftModel  # imported on first use: base-only processes skip peft

                self._model = PeftModel.from_pretrained(self._base, str(path), adapter_name=name)
            else:
                self._model.load_adapter(str(path), adapter_name=name)
        except Exception as exc:
            self._undo_failed_load(name)
            self._activate(previous)
            raise AdapterLoadError(f"Could not load adapter {name!r} from {path}: {exc}") from exc
        self._loaded[name] = path
        self._activate(name)
        self._evict()

    def use_base(self) -> None:
        """Generate with the base model alone (the adapters stay loaded)."""
        self._activate(BASE_ADAPTER_NAME)

    def _activate(self, name: str) -> None:
        if self._model is not self._base:
            if name == BASE_ADAPTER_NAME:
                self._model.base_model.disable_adapter_layers()
            else:
                self._model.set_adapter(name)
                self._model.base_model.enable_adapter_layers()
                self._loaded.move_to_end(name)
        self._active = name

    def _evict(self) -> None:
        """Delete least recently used adapters beyond the bound (never the active one)."""
        for name in list(self._loaded):
            if len(self._loaded) <= self._max_loaded:
                break
            if name != self._active:
                self._model.delete_adapter(name)
                del self._loaded[name]
                logger.info("unloaded adapter %s", name)

    def _undo_failed_load(self, name: str) -> None:
        if self._model is self._base:
            # PeftModel.from_pretrained wraps the layers in place before it reads the weights.
            _strip_adapter_layers(self._base)
        elif name in getattr(self._model, "peft_config", {}):
            self._model.delete_adapter(name)


def _check_adapter_files(name: str, path: Path) -> None:
    """Refuse a missing or unreadable adapter before peft changes the model."""
    from safetensors import safe_open

    try:
        config = json.loads((path / ADAPTER_CONFIG).read_text())
        if not isinstance(config, dict) or "peft_type" not in config:
            raise ValueError(f"{ADAPTER_CONFIG} is not a PEFT adapter config")
        with safe_open(str(path / ADAPTER_WEIGHTS), framework="pt") as weights:  # checks header and size
            if not list(weights.keys()):
                raise ValueError(f"{ADAPTER_WEIGHTS} holds no tensors")
    except Exception as exc:  # json, safetensors and OS errors alike mean "unusable"
        raise AdapterLoadError(f"Could not load adapter {name!r} from {path}: {exc}") from exc


def _strip_adapter_layers(model: torch.nn.Module) -> None:
    """Put the original layers back wherever a peft tuner layer wraps one (duck-typed on `base_layer`,
    because the bot does not import `peft.tuners`)."""
    wrapped = [
        name
        for name, module in model.named_modules()
        if name and hasattr(module, "base_layer") and callable(getattr(module, "get_base_layer", None))
    ]
    for name in wrapped:
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        child = getattr(parent, child_name, None)
        if child is not None and hasattr(child, "get_base_layer"):
            setattr(parent, child_name, child.get_base_layer())
    if hasattr(model, "peft_config"):
        del model.peft_config
