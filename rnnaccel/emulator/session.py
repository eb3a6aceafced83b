"""Technique sessions: memoization and dynamic precision whose state lives across calls.

A step-by-step decoder (greedy or beam search) calls its recurrent module once per output token.
Plain emulation starts every call from empty memo buffers and no precision history, so such a
decoder would never reuse or narrow anything. Inside a session it does::

    from rnnaccel.emulator import Trace
    from rnnaccel.emulator.session import session

    tr = Trace()
    with session(model, memo="bnn", precision="dynamic", trace=tr) as s:
        memory = model.encoder(src_emb, lengths=src_len)[0]     # call 1 of "encoder"
        for t in range(steps):                                    # calls of "decoder": one sequence
            out, state = model.decoder(y[:, t:t + 1], state)
            ...
            s.reindex(model.decoder, beam_index)                  # beam search: state follows rows
        s.reset()                                                 # new sentences

What a session does, per emulator module of ``model`` (every ``rnnaccel.emulator`` module with
technique ``units``: LSTM/GRU stacks and cells, found by walking the model; a module inside one
found is part of it):

- attaches technique unit factories: the ``memo``/``precision`` given (a config, a packaged name,
  a mapping or a factory, whose settings are used; one factory per module) together with the
  factories the module already has (``module.units``, e.g. set by the evaluate app); a technique
  given twice for one module is refused. On exit the module's own units come back.
- keeps each (module, layer, direction)'s per-sequence state (memo buffers, precision history) in
  the factory's :class:`~rnnaccel.emulator.hooks.Carry` across calls, per batch row in the caller's
  order, until :meth:`Session.reset` (all rows, or some rows) or the end of the session. A call
  with another number of rows is refused: :meth:`Session.reindex` says which row continues which
  (beam search), :meth:`Session.reset` starts new sequences. Rows that end early within a call
  (shorter lengths) keep the state they reached. A bidirectional module cannot continue across
  calls (its reverse direction would run backwards over the call boundary): its second call
  without a reset is refused.
- records every call into ``trace`` with the module's qualified name (``LayerTrace.module``);
  consecutive calls of a module append their steps to that module's LayerTraces until its next
  whole reset, so a decoder run is one trace of ``T = tokens`` steps. A ``trace=`` the caller
  passes to a module call still receives that call's LayerTraces (named, one per call).
- refuses a call of a module with techniques that is not in ``emulate`` mode (``mode=`` sets the
  modules' mode for the session and restores it on exit).

With every threshold 0 a session computes exactly what plain emulation computes.
"""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

from torch import nn

from ..errors import RnnaccelError
from .hooks import CarryingFactory
from .memo import MemoConfig, MemoFactory, load_memo, memo_factory
from .precision import PrecisionConfig, PrecisionFactory, load_precision, precision_factory
from .trace import LayerTrace, Trace

__all__ = ["Session", "session", "emulator_modules", "check_units"]


def _is_emulator_module(m: nn.Module) -> bool:
    return type(m).__module__.startswith("rnnaccel.emulator") and hasattr(m, "units") and hasattr(m, "mode")


def emulator_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified name, module)`` of every emulator recurrent module in ``model`` (outermost
    ones: a module inside one found is part of it). ``model`` itself is named ``""``."""
    found: list[tuple[str, nn.Module]] = []
    for name, m in model.named_modules():
        if any(name == p or name.startswith(p + ".") or p == "" for p, _ in found):
            continue
        if _is_emulator_module(m):
            found.append((name, m))
    return found


def _technique(value, kind: str) -> CarryingFactory | None:
    """A factory from what the apps accept (None or off: no factory)."""
    if value is None:
        return None
    if kind == "memo":
        if isinstance(value, MemoFactory):
            return value.spawn()
        cfg = load_memo(value) if not isinstance(value, MemoConfig) else value
        return memo_factory(cfg) if cfg.predictor != "off" else None
    if isinstance(value, PrecisionFactory):
        return value.spawn()
    pc = load_precision(value) if not isinstance(value, PrecisionConfig) else value
    return precision_factory(pc) if pc.mode != "off" else None


def check_units(units: list, module: nn.Module, name: str) -> None:
    """Refuse technique settings that name layers ``module`` does not have (a per-layer list
    longer than its ``num_layers`` would be ignored past the last layer): one line naming the
    lengths. Every path that attaches factories to a module calls it (sessions, the evaluate app)."""
    n = int(getattr(module, "num_layers", 1))
    for f in units:
        for cfg in (getattr(f, "cfg", None), getattr(f, "config", None)):
            check = getattr(cfg, "check_layers", None)
            if check is not None:
                try:
                    check(n, f"module {name!r}")
                except ValueError as e:
                    raise RnnaccelError(str(e)) from None


class Session:
    """See the module docstring. Use :func:`session`."""

    def __init__(self, model: nn.Module, memo=None, precision=None, trace: Trace | None = None, mode=None):
        self.model, self.trace, self.mode = model, trace, mode
        self.modules: dict[str, Any] = dict(emulator_modules(model))  # emulator modules (units, mode)
        if not self.modules:
            raise RnnaccelError(
                f"session: {type(model).__name__} holds no rnnaccel.emulator recurrent module; "
                "convert its torch recurrent modules first (rnnaccel.convert)"
            )
        self.units = {name: self._units(name, m, memo, precision) for name, m in self.modules.items()}
        self._saved: dict[str, tuple] = {}
        self._hooks: list = []
        self._open: dict[tuple, LayerTrace] = {}  # (module, layer, direction) -> the trace being extended
        self._called: set[str] = set()  # modules called since their last whole reset
        self._calls: dict[str, tuple] = {}
        self.active = False

    @staticmethod
    def _units(name: str, m: Any, memo, precision) -> list:
        """The module's factories in the session: memoization first (its decision must precede
        any unit that supplies dot products), then the others in their order."""
        own = list(m.units)
        for f in own:
            if not isinstance(f, CarryingFactory):
                raise RnnaccelError(
                    f"session: module {name or type(m).__name__!r} has a unit factory of type "
                    f"{type(f).__name__} that cannot keep state across calls; remove it from "
                    "module.units or derive it from rnnaccel.emulator.hooks.CarryingFactory"
                )
        made = [f for f in (_technique(memo, "memo"), _technique(precision, "precision")) if f is not None]
        for f in made:
            if any(type(o) is type(f) for o in own):
                raise RnnaccelError(
                    f"session: module {name or type(m).__name__!r} already has a {type(f).__name__} "
                    "in module.units; pass the technique once (to the session or on the module)"
                )
        units = sorted(made + own, key=lambda f: 0 if isinstance(f, MemoFactory) else 1)
        check_units(units, m, name or type(m).__name__)
        return units

    # ------------------------------------------------------------------ enter / exit
    def __enter__(self) -> "Session":
        if self.active:
            raise RnnaccelError("session: already entered; open a new session instead of re-entering one")
        opened: list = []
        try:
            for name in self.modules:
                for f in self.units[name]:
                    f.open_carries(f"{name}: " if name else "")
                    opened.append(f)
        except ValueError as e:
            for f in opened:
                f.close_carries()
            raise RnnaccelError(f"session: {e}") from None
        for name, m in self.modules.items():
            self._saved[name] = (m.units, m.mode)
            m.units = self.units[name]
            if self.mode is not None:
                m.mode = self.mode
            self._hooks.append(m.register_forward_pre_hook(partial(self._before, name), with_kwargs=True))
            self._hooks.append(m.register_forward_hook(partial(self._after, name), with_kwargs=True))
        self.active = True
        return self

    def __exit__(self, *exc) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
        for name, m in self.modules.items():
            m.units, m.mode = self._saved.pop(name)
            for f in self.units[name]:
                f.close_carries()
        self.active = False

    # ------------------------------------------------------------------ state control
    def _select(self, module) -> list[str]:
        if module is None:
            return list(self.modules)
        if isinstance(module, str):
            if module not in self.modules:
                raise RnnaccelError(f"session: no module named {module!r}; modules: {sorted(self.modules)}")
            return [module]
        for name, m in self.modules.items():
            if m is module:
                return [name]
        raise RnnaccelError(
            f"session: {type(module).__name__} is not one of this session's modules {sorted(self.modules)}"
        )

    def _carries(self, name: str) -> list:
        return [c for f in self.units[name] for c in (f.carries or {}).values()]

    def reset(self, module=None, rows=None) -> None:
        """Start new sequences: in ``module`` (an object or qualified name; None: every module),
        on every row (``rows`` None: the module's next call also starts new LayerTraces) or on
        the caller's batch rows ``rows`` (the other rows continue)."""
        for name in self._select(module):
            for c in self._carries(name):
                c.reset(rows)
            if rows is None:
                self._called.discard(name)
                for key in [k for k in self._open if k[0] == name]:
                    del self._open[key]

    def reindex(self, module, index) -> None:
        """Row ``i`` of the next call continues the sequence of row ``index[i]`` (an index tensor
        as ``index_select`` on the batch rows takes): beam search reorders, duplicates and prunes
        hypotheses. ``module``: an object or qualified name, or None for every module."""
        for name in self._select(module):
            for c in self._carries(name):
                c.reindex(index)

    # ------------------------------------------------------------------ call hooks
    def _before(self, name: str, m: nn.Module, args, kwargs):
        label = name or type(m).__name__
        if m.units and m.mode != "emulate":
            raise RnnaccelError(
                f"session: module {label!r} runs in {m.mode!r} mode; memoization and precision act only "
                "in emulate mode (session(..., mode='emulate') or set_mode(model, 'emulate'))"
            )
        if getattr(m, "bidirectional", False) and name in self._called and m.units:
            raise RnnaccelError(
                f"session: bidirectional module {label!r} cannot continue its sequences across calls "
                "(the reverse direction would run backwards over the call boundary); call "
                "s.reset(module) before calling it again"
            )
        self._called.add(name)
        user = kwargs.get("trace")
        if self.trace is not None or user is not None:  # record the call to name its LayerTraces
            kwargs = {**kwargs, "trace": Trace()}
            self._calls[name] = (kwargs["trace"], user if user is not self.trace else None)
        return args, kwargs

    def _after(self, name: str, m: nn.Module, args, kwargs, output):
        call, user = self._calls.pop(name, (None, None))
        if call is None:
            return None
        for lt in call:
            lt.module = name
            if self.trace is not None:
                self._record(name, lt)
        if user is not None:
            user.extend(call)
        return None

    def _record(self, name: str, lt: LayerTrace) -> None:
        assert self.trace is not None
        key = (name, lt.layer, lt.direction)
        cur = self._open.get(key)
        if cur is not None and cur.same_shape(lt):
            cur.append_steps(lt)
            return
        new = copy.copy(lt)
        new.counters = dict(lt.counters)
        self.trace.append(new)
        self._open[key] = new


def session(
    model: nn.Module, memo=None, precision=None, trace: Trace | None = None, mode: str | None = None
) -> Session:
    """``with session(model, memo=..., precision=..., trace=...) as s:`` — see the module docstring.

    ``memo``: a :class:`~rnnaccel.emulator.memo.MemoConfig`, a packaged name (``"bnn"``), a YAML
    path, a mapping or a :class:`~rnnaccel.emulator.memo.MemoFactory`; ``precision`` likewise
    (:class:`~rnnaccel.emulator.precision.PrecisionConfig`, ``"dynamic"``, ...). None: only the
    modules' own units. ``trace``: collects every call, keyed by module. ``mode``: the modules'
    mode during the session (None: as they are)."""
    return Session(model, memo, precision, trace, mode)
