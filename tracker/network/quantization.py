"""Int8 CPU inference for the hourglass: static post-training quantization from stored activation ranges.

``calibrate`` (run once, by ``tracker quantize``, on training crops) records the range each
activation is quantized over; the weights file keeps those ranges beside the float weights. At load
time ``quantize`` rebuilds the int8 network from the float weights and the ranges, offline and
deterministically. Weights are int8 per output channel; activations uint8 over their full 0..255
range, and the stem stays in float: in development experiments on LFPW test, fbgemm's 7-bit
``reduce_range`` cost about 0.4 NME and quantizing the stem's first convolution about 0.05. Only x86 CPUs (fbgemm) are supported; elsewhere the
float network runs.
"""
from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterable

import torch
from torch import nn

from tracker.defaults import PRECISIONS
from tracker.errors import InputError
from tracker.models import LandmarkModel

log = logging.getLogger(__name__)

ENGINE = "fbgemm"
FLOAT_MODULES = ("network.stem",)  # module names inside ``FirstStacks`` left in float
QUINT8_MAX = 255
ActivationRanges = dict[str, list[float]]  # observed node name -> [low, high]


class QuantizationError(InputError):
    """Int8 inference was asked for but cannot be built here or for these weights."""


def int8_available() -> bool:
    """Whether this PyTorch build can run the int8 hourglass on this CPU."""
    try:
        from torch.ao.quantization import quantize_fx  # noqa: F401
    except ImportError:
        return False
    return ENGINE in torch.backends.quantized.supported_engines


def use_int8(precision: str) -> bool:
    """Whether ``precision`` (one of ``PRECISIONS``) means int8: only when asked for; "auto" runs float,
    which ONNX Runtime runs faster on a CPU than PyTorch runs int8 (docs/speed.md)."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision == "int8"


def int8_ranges_for(model: LandmarkModel, device: torch.device) -> ActivationRanges:
    """``model``'s int8 ranges, once int8 is known to run on ``device`` (engine selected); else why not."""
    if device.type != "cpu":
        raise QuantizationError("int8 inference runs on the CPU only")
    if model.int8_ranges is None:
        raise QuantizationError("these weights carry no int8 ranges (add them with `tracker quantize`)")
    if not int8_available():
        raise QuantizationError(f"int8 inference needs PyTorch's {ENGINE} engine (x86 CPUs)")
    select_engine()  # also for a cached graph, whose packed weights are re-packed on loading
    return model.int8_ranges


def select_engine() -> None:
    """Make PyTorch run (and re-pack, when a saved graph is loaded) quantized ops with ``ENGINE``.

    Also meets PyTorch's one-time deprecation notice for quantized tensors here, where it is
    silenced; a loaded graph would otherwise print it to stderr on its first call.
    """
    torch.backends.quantized.engine = ENGINE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.quantize_per_tensor(torch.zeros(1), 1.0, 0, torch.quint8)


def _prepare(module: nn.Module, observer: type, example: torch.Tensor) -> torch.fx.GraphModule:
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.observer import PerChannelMinMaxObserver
    from torch.ao.quantization.quantize_fx import prepare_fx

    qconfig = QConfig(
        activation=observer.with_args(reduce_range=False),
        weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric),
    )
    mapping = QConfigMapping().set_global(qconfig)
    for name in FLOAT_MODULES:
        mapping.set_module_name(name, None)
    select_engine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        return prepare_fx(copy.deepcopy(module).eval(), mapping, (example,))


def _observers(prepared: torch.fx.GraphModule) -> dict[str, nn.Module]:
    """Each activation observer keyed by the name of the graph node it watches."""
    from torch.ao.quantization.observer import ObserverBase

    found = {}
    for node in prepared.graph.nodes:
        if node.op == "call_module":
            module = prepared.get_submodule(node.target)
            if isinstance(module, ObserverBase):
                found[node.args[0].name] = module
    return found


def calibrate(module: nn.Module, batches: Iterable[torch.Tensor]) -> ActivationRanges:
    """Activation ranges of ``module`` (a float hourglass, eval mode) over normalised input ``batches``."""
    from torch.ao.quantization.observer import HistogramObserver

    batches = iter(batches)
    first = next(batches)
    prepared = _prepare(module, HistogramObserver, first[:1])
    with torch.no_grad():
        for batch in (first, *batches):
            prepared(batch)
    ranges = {}
    for name, observer in _observers(prepared).items():
        scale, zero_point = (float(v) for v in observer.calculate_qparams())
        ranges[name] = [-zero_point * scale, (QUINT8_MAX - zero_point) * scale]  # the uint8 grid's span
    return ranges


def quantize(module: nn.Module, ranges: ActivationRanges, example: torch.Tensor) -> nn.Module:
    """The int8 version of ``module`` with activations quantized over ``ranges``."""
    from torch.ao.quantization.observer import MinMaxObserver
    from torch.ao.quantization.quantize_fx import convert_fx

    if not int8_available():
        raise QuantizationError(f"int8 inference needs PyTorch's {ENGINE} engine (x86 CPUs)")
    prepared = _prepare(module, MinMaxObserver, example)
    observers = _observers(prepared)
    if missing := sorted(set(observers) - set(ranges)):
        raise QuantizationError(f"the weights' int8 ranges do not match this network (missing {missing[0]})")
    for name, observer in observers.items():
        observer(torch.tensor(ranges[name], dtype=torch.float32))  # min/max = the stored span
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_fx(prepared)
