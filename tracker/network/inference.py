"""Inference-only graphs of the networks: BatchNorm folded into the convolutions, weights pre-packed.

``torch.jit.trace`` + ``torch.jit.freeze`` makes the compact hourglass about 1.5x faster on the CPU
at batch 1 (a timing loop on the 2-core development machine: 27 -> 18 ms with one thread, 19 -> 11 ms
with two); outputs match eager to ~1e-6. TorchScript is deprecated in recent PyTorch but still
shipped; ``torch.compile`` was tried instead and is slower here (18 ms with two threads) after a 50 s
compile. Where tracing fails or TorchScript is gone, the eager module is used.

Building a graph takes seconds (the int8 hourglass most, mostly in FX preparation), so
``cached_graph`` keeps built graphs on disk, keyed by everything that shapes them (weights, int8
ranges, stack count, PyTorch version, this package's network code): later runs
load them in a few hundredths of a second. ``SA_TRACKER_CACHE`` sets the folder (default
``$XDG_CACHE_HOME/sa-tracker/graphs`` or ``~/.cache/sa-tracker/graphs``); ``SA_TRACKER_CACHE=off`` disables it.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from tracker.network.graph_cache import graph_cache_dir, source_digest

log = logging.getLogger(__name__)

# Source files whose code is baked into a traced graph: a change to any of them invalidates the cache.
GRAPH_SOURCES = ("models/hourglass.py", "models/ghcu.py", "network/quantization.py", "network/inference.py")


def freeze_for_inference(module: nn.Module, *example: torch.Tensor) -> Callable[..., Any]:
    """A frozen TorchScript graph of ``module`` (eval mode) for inputs shaped like ``example``.

    The graph is shape-generic in the batch dimension. It snapshots the weights: freeze again after
    changing them.
    """
    module = module.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer notices
            return torch.jit.freeze(torch.jit.trace(module, example, check_trace=False))
    except (AttributeError, RuntimeError, TypeError) as err:
        log.info("running %s eagerly (TorchScript unavailable: %s)", type(module).__name__, err)
        return module


def graph_key(kind: str, modules: Iterable[nn.Module], *extra: object) -> str:
    """A digest of everything that determines a built graph."""
    digest = hashlib.sha256(f"{kind}|{torch.__version__}|{extra!r}".encode())
    source_digest(digest, GRAPH_SOURCES)
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"{kind}-{digest.hexdigest()[:24]}"


def cached_graph(key: str, build: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    """The graph saved under ``key``, or ``build()``'s, saved for next time (when it is TorchScript)."""
    folder = graph_cache_dir()
    path = folder / f"{key}.pt" if folder is not None else None
    if path is not None and path.is_file():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript's deprecation notice
                return torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, OSError, ValueError) as err:  # truncated or from an incompatible build
            log.info("rebuilding the cached graph %s: %s", path, err)
    graph = build()
    if path is not None and isinstance(graph, torch.jit.ScriptModule):
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.save(graph, str(partial))
            os.replace(partial, path)
        except OSError as err:  # a read-only home, a full disk: run without the cache
            log.info("not caching the graph at %s: %s", path, err)
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
    return graph
