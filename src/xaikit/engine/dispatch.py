"""The propagation engine: a ``__torch_function__`` mode that rewires a model's forward pass.

While a model runs inside :class:`Propagation`, every torch operation touching a tensor
derived from the input is intercepted: its true value is computed as usual, and a
propagation graph is built beside it, according to the composite's rule for that
operation. The gradient of that graph is the relevance. Because operations are seen at
the function level, functional activations (``F.relu``), residual ``+``, a module used
twice and any Python control flow need no glue; an operation the engine does not know
raises :class:`~xaikit.engine.errors.UnsupportedOperationError`.

Nothing of the model is modified: modified weights are new tensors, and the only
temporary change (forward hooks that name the module being run) is undone on exit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

from xaikit.core.wrappers import unwrapped
from xaikit.engine import ops
from xaikit.engine.call import OpCall
from xaikit.engine.composite_protocol import RuleProvider
from xaikit.engine.custom import CustomRule, custom_rule
from xaikit.engine.decompositions import DECOMPOSITIONS, attention_arguments
from xaikit.engine.derived import new_generation
from xaikit.engine.errors import ModelModeError, UnsupportedOperationError
from xaikit.engine.flat import leaves as flat_leaves
from xaikit.engine.gradient import Gradient
from xaikit.engine.graft import graft
from xaikit.engine.kinds import LAYER_KINDS, OpKind
from xaikit.engine.layer import LayerInfo, LinearOp, bias_of
from xaikit.engine.recurrent import UNROLLED, UNROLLED_PACKING
from xaikit.engine.relu_forms import SignMasks
from xaikit.engine.rule import ElementwiseRule, LayerRule, Rule, check_serves
from xaikit.engine.tensor_table import TensorTable
from xaikit.engine.units import GradientUnits, scaled_gradient
from xaikit.engine.visibility import Visibility, grad_disabled
from xaikit.utils.errors import ModelError

_NATURAL = Gradient()


@dataclass
class _Carry:
    """What the engine knows of a tensor derived from the input.

    ``op``/``source``/``rule`` are set for outputs of parametric layers, whose propagation
    graph is built only when first needed (so that a following batch-norm can be merged
    into the layer first). ``graph`` is the tensor carrying the propagation graph; ``own``
    says that the tensor this entry is for is its own graph. (The entry must not hold that
    tensor: the table's keys are weak, so that each intermediate tensor is freed when the
    model and the autograd graph let go of it, as without the engine.)
    """

    graph: Tensor | None = None
    own: bool = False
    nonnegative: bool = False
    positive_graph: Tensor | None = None
    op: LinearOp | None = None
    source: Tensor | None = None
    rule: LayerRule | None = None


class Propagation(TorchFunctionMode):
    """Run a model's forward pass with relevance propagation graphs attached.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The model (used to name the module that performs each operation).
    rules : RuleProvider
        Chooses the rule of each operation (see :class:`xaikit.rules.Composite`).
    merge_batchnorm : bool
        Merge an eval-mode batch normalization into the linear layer before it, for the
        explanation only (the canonical LRP treatment).

    Examples
    --------
    >>> with Propagation(model, composite) as prop:          # doctest: +SKIP
    ...     out = model(x_leaf)
    >>> graph, value = prop.graph_of(out), prop.value_of(out)  # doctest: +SKIP
    >>> g, = torch.autograd.grad(graph, x_leaf, prop.start_gradient(start_relevance, value))  # doctest: +SKIP
    >>> relevance = prop.relevance_of(g, x_leaf)             # doctest: +SKIP

    ``start_gradient`` and ``relevance_of`` translate between relevance and what the graph
    carries: the same in relevance units, value x gradient with a composite's
    :class:`~xaikit.engine.GradientUnits`.
    """

    def __init__(self, model: Callable[..., Any], rules: RuleProvider, *, merge_batchnorm: bool = True) -> None:
        super().__init__()
        self.model = model
        self.rules = rules
        self.merge_batchnorm = merge_batchnorm
        self._carry: TensorTable[_Carry] = TensorTable()
        self._stack: list[nn.Module] = []
        self._names: dict[int, str] = {}
        self._handles: list[Any] = []
        self._counts: dict[str, int] = {}
        self.layers: list[LayerInfo] = []
        self._masks = SignMasks()
        #: ``"gate"``, ``"squash"`` or ``"statistic"`` for carried tensors that are one (see :meth:`_note_role`).
        self._roles: TensorTable[str] = TensorTable()
        self._visibility = Visibility()
        #: Derived weights are cached within this run only (see :mod:`xaikit.engine.derived`).
        self.generation = new_generation()
        units = getattr(rules, "units", None)
        if units is not None and not isinstance(units, GradientUnits):
            raise TypeError(f"the rule provider's units must be a xaikit.engine.GradientUnits or None, got {units!r}")
        #: Gradient units (relevance = value x gradient of the graph), or ``None``: relevance units.
        self.units: GradientUnits | None = units

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Propagation:
        root = unwrapped(self.model)  # layers keep the names they have in the user's model
        if isinstance(root, nn.Module):
            for name, module in root.named_modules():
                self._names.setdefault(id(module), name)
                self._handles.append(module.register_forward_pre_hook(self._push))
                self._handles.append(module.register_forward_hook(self._pop, always_call=True))
        try:
            super().__enter__()
        except BaseException:
            self._remove_hooks()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self._remove_hooks()

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _push(self, module: nn.Module, inputs: Any) -> None:
        self._stack.append(module)

    def _pop(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if self._stack and self._stack[-1] is module:
            self._stack.pop()

    # ------------------------------------------------------------------ tracking
    def track(self, x: Tensor) -> Tensor:
        """Mark ``x`` (a leaf requiring grad) as carrying relevance; returns it."""
        self._carry[x] = _Carry(own=True, nonnegative=bool((x.detach() >= 0).all()))
        self._visibility.track_input(x)
        return x

    def nonnegative(self, x: Tensor) -> bool:
        """Whether ``x`` is known to be non-negative (output of a ReLU, or of routing such values)."""
        carry = self._carry.get(x)
        return carry is not None and carry.nonnegative

    def carries(self, x: Any) -> bool:
        """Whether ``x`` is a tensor derived from a tracked input."""
        return isinstance(x, Tensor) and x in self._carry

    def graph_of(self, x: Tensor, *, positive_only: bool = False) -> Tensor:
        """The propagation graph of a carrying tensor (built now if it was pending).

        ``positive_only`` tells that the consumer (a ReLU) discards negative values, so a
        rule may skip the work that only serves relevance on negative outputs.
        """
        carry = self._carry.get(x)
        if carry is None:
            raise ValueError(
                "this tensor does not depend on the explained input; does the model use its input?"
            )
        if carry.own:
            return x
        if carry.graph is None and positive_only and self.units is None:
            if carry.positive_graph is None:
                carry.positive_graph = self._build_pending(carry, x, positive_only=True)
            if carry.positive_graph is not None:
                return carry.positive_graph
        if carry.graph is None:
            carry.graph = self._build_pending(carry, x, positive_only=False)
        assert carry.graph is not None
        return carry.graph

    def consumed_graph_of(self, x: Tensor) -> Tensor:
        """The graph of ``x`` that its consumers used: the positive-only one where a ReLU asked
        only for that (relevance at ``x``'s negative entries is zero either way), else :meth:`graph_of`."""
        carry = self._carry.get(x)
        if carry is not None and not carry.own and carry.graph is None and carry.positive_graph is not None:
            return carry.positive_graph
        return self.graph_of(x)

    def _build_pending(self, carry: _Carry, x: Tensor, *, positive_only: bool) -> Tensor | None:
        """Build the deferred graph of the layer output ``x`` with the layer's rule.

        The rule's graph (``propagate_positive`` when only positive outputs matter and the
        rule has such a variant, else ``propagate``) is grafted onto ``x``'s value and
        registered as carrying relevance; ``None`` if the positive variant was asked for
        and the rule has none.
        """
        assert carry.op is not None and carry.source is not None and carry.rule is not None
        built = self._layer_graph(carry.rule, carry.op, carry.source, positive_only=positive_only)
        if built is None:
            return None
        graph = graft(built, x)
        self._carry[graph] = _Carry(own=True)
        return graph

    def _layer_graph(self, rule: LayerRule, op: LinearOp, source: Tensor, *, positive_only: bool = False) -> Tensor | None:
        """The rule's graph of the layer ``op`` on ``source``, in the engine's units."""
        a = self.graph_of(source)
        if self.units is None:
            return rule.propagate_positive(op, a) if positive_only else rule.propagate(op, a)
        built = rule.propagate_gradient(op, a, self.units)
        if built is None:  # convert units around the rule
            built = self.units.from_relevance(rule.propagate(op, self.units.to_relevance(a, self.value_of(source))))
        return built

    def _elementwise_graph(
        self, kind: OpKind, rule: ElementwiseRule, call: OpCall, graphs: list[Tensor], value: Tensor | None = None
    ) -> Any:
        """The rule's output for an operation of ``kind`` on the carried ``graphs``, in the engine's units.

        In relevance units the rule's :meth:`~ElementwiseRule.propagate_elementwise` (with
        ``value``, else :meth:`~ElementwiseRule.propagate_call`); in gradient units its
        :meth:`~ElementwiseRule.propagate_gradient_elementwise`, or the former with units converted.
        """
        units = self.units
        if units is None:
            return rule.propagate_call(call, graphs) if value is None else rule.propagate_elementwise(call, graphs, value)
        built = rule.propagate_gradient_elementwise(kind, call, graphs, units)
        if built is not None:
            return built
        if value is None:
            with torch.no_grad():
                value = call.on_values()
        relevance = [units.to_relevance(g, call.value_of(i)) for i, g in enumerate(graphs)]
        return units.from_relevance(rule.propagate_elementwise(call, relevance, value))

    def start_gradient(self, relevance: Tensor, value: Tensor) -> Tensor:
        """What to send back from an output graph of ``value`` for it to carry ``relevance``."""
        return relevance if self.units is None else self.units.start(relevance, value)

    def relevance_of(self, gradient: Tensor, value: Tensor) -> Tensor:
        """The relevance of a tracked tensor of ``value`` whose graph received ``gradient``."""
        return gradient if self.units is None else self.units.relevance(gradient, value)

    def value_of(self, x: Tensor) -> Tensor:
        """The current value of a carrying tensor (after any in-place update the model made)."""
        carry = self._carry.get(x)
        if carry is not None and not carry.own and carry.graph is not None:
            return carry.graph.detach()
        return x.detach()

    def layer_of(self, x: Tensor) -> tuple[LinearOp, Tensor, LayerRule] | None:
        """``(op, input, rule)`` if ``x`` is the direct output of a parametric layer."""
        carry = self._carry.get(x)
        if carry is None or carry.op is None:
            return None
        assert carry.source is not None and carry.rule is not None
        return carry.op, carry.source, carry.rule

    def _mark(self, out: Any, nonnegative: bool = False) -> Any:
        def mark(t: Any) -> Any:
            if isinstance(t, Tensor) and t.dtype.is_floating_point and t.requires_grad:
                self._carry[t] = _Carry(own=True, nonnegative=nonnegative)
            return t

        if isinstance(out, Tensor):
            mark(out)
        else:
            tree_map(mark, out)
        return out

    def _resolve(self, tree: Any) -> Any:
        return tree_map(lambda t: self.graph_of(t) if self.carries(t) else t, tree)

    # ------------------------------------------------------------------ naming
    def _info(self, kind: OpKind, func: Callable[..., Any]) -> LayerInfo:
        module = self._stack[-1] if self._stack else None
        name = self._names.get(id(module), "") if module is not None else ""
        index = -1
        kind_index = -1
        if kind in LAYER_KINDS:
            index = self._counts.get("__layers__", 0)
            self._counts["__layers__"] = index + 1
            kind_index = self._counts.get(kind, 0)
            self._counts[kind] = kind_index + 1
        info = LayerInfo(kind=kind, func=func, module=module, name=name, index=index, kind_index=kind_index)
        if kind in LAYER_KINDS:
            self.layers.append(info)
        return info

    def _assigned(self, info: LayerInfo) -> Rule | None:
        """The provider's rule for ``info`` (its default for the kind if none is assigned), checked."""
        rule = self.rules.rule_for(info)
        if rule is None:
            rule = self.rules.default_for(info.kind)
        if rule is not None:
            check_serves(rule, frozenset({info.kind}), f"the rule for {info.kind} in {self._where()}")
        return rule

    def _layer_rule(self, info: LayerInfo) -> LayerRule:
        rule = self._assigned(info)
        return _NATURAL if rule is None else rule  # type: ignore[return-value]

    def _elementwise_rule(self, info: LayerInfo) -> ElementwiseRule:
        rule = self._assigned(info)
        return _NATURAL if rule is None else rule  # type: ignore[return-value]

    def _where(self) -> str:
        if not self._stack:
            return "the model's forward"
        module = self._stack[-1]
        name = self._names.get(id(module), "")
        return f"module {name!r} ({type(module).__name__})" if name else f"the model ({type(module).__name__})"

    # ------------------------------------------------------------------ dispatch
    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        leaves = flat_leaves(args, kwargs)
        carried = [t for t in leaves if self.carries(t)]
        if not carried:
            out = func(*args, **kwargs)
            if args and self._masks.holds(args[0]):
                self._masks.note(func, args, out, self.carries)
            return out
        if grad_disabled():
            return self._unseen(func, list(args), kwargs)
        if func in ops.REFUSED:
            raise UnsupportedOperationError(f"{ops.describe(func)} in {self._where()}: {ops.REFUSED[func]}")
        rule = custom_rule(func)
        if rule is not None:
            return self._custom(func, rule, list(args), kwargs)
        if func is F.scaled_dot_product_attention and self.units is not None:
            fused = self._fused_attention(args, kwargs)
            if fused is not None:
                return fused
        decomposition = DECOMPOSITIONS.get(func) or UNROLLED.get(func) or UNROLLED_PACKING.get(func)
        if decomposition is not None:
            return self._inside(decomposition, args, kwargs)
        relu_input = self._masks.relu_input(func, args, kwargs)
        if relu_input is not None and self.carries(relu_input):
            return self._on_activation(torch.relu, [relu_input], {})
        family = ops.family_of(func)
        inplace = False
        if family is None:
            replacement = ops.out_of_place(func)
            if replacement is not None:
                func, family, inplace = replacement, ops.family_of(replacement), True
        if family is None:
            return self._unknown(func, args, kwargs)
        if family in ("sum", "route"):
            self._check_visible(func, leaves)
        call_args, kwargs, inplace_flag = ops.without_inplace(func, list(args), kwargs)
        handler = getattr(self, "_on_" + family)
        result = handler(func, call_args, kwargs)
        self._note_role(func, family, call_args, kwargs, result)
        if (inplace or inplace_flag) and args and self.carries(args[0]) and self.carries(result):
            # The model mutated args[0]: from now on that tensor stands for the result.
            carry = self._carry[result]
            self._carry[args[0]] = replace(carry, graph=result, own=False) if carry.own else carry
        return result

    def _fused_attention(self, args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor | None:
        """``F.scaled_dot_product_attention`` as one kernel, in gradient units, where its rules allow it.

        The kernel computes ``softmax(Q K^T * scale + mask) V``. When the rules of those
        operations are, in gradient units, their own backward times factors
        (:meth:`~xaikit.engine.ElementwiseRule.own_backward_factors`; AttnLRP: ``1/2`` at each
        product, ``1`` at the softmax; CP-LRP: the softmax held constant), the explanation
        is the kernel's own backward with the gradients reaching ``Q``, ``K`` and ``V``
        scaled: no attention matrix is kept. ``None`` where that does not hold (the
        composition is then propagated operation by operation).
        """
        bound = attention_arguments(args, kwargs)
        q, k, v, mask = bound.get("query"), bound.get("key"), bound.get("value"), bound.get("attn_mask")
        if bound.get("dropout_p", 0.0) or not all(self.carries(t) for t in (q, k, v)):
            return None
        if mask is not None and (self.carries(mask) or self._visibility.unseen(mask)):
            return None
        assert q is not None and k is not None and v is not None
        signal = ("signal",)
        product = self._elementwise_rule(self._info(OpKind.PRODUCT, torch.matmul))
        scores = product.own_backward_factors(OpKind.PRODUCT, (self._product_role(q), self._product_role(k)))
        scale = self._elementwise_rule(self._info(OpKind.SCALE, torch.mul)).own_backward_factors(OpKind.SCALE, signal)
        masked: tuple[float, ...] | None = (1.0,)
        if mask is not None and mask.dtype != torch.bool:
            masked = self._elementwise_rule(self._info(OpKind.SUM, torch.add)).own_backward_factors(OpKind.SUM, signal)
        softmax = self._elementwise_rule(self._info(OpKind.SOFTMAX, F.softmax)).own_backward_factors(OpKind.SOFTMAX, signal)
        if scores is None or scale is None or masked is None or softmax is None:
            return None
        if softmax[0] == 0.0:  # constant weights: A @ V is a linear map of V
            factor = self._layer_rule(self._info(OpKind.DENSE, torch.matmul)).own_backward_factor()
            if factor is None:
                return None
            factors = (0.0, 0.0, factor)
        else:
            weighted = product.own_backward_factors(OpKind.PRODUCT, ("signal", self._product_role(v)))
            if weighted is None:
                return None
            through_weights = weighted[0] * softmax[0] * masked[0] * scale[0]
            factors = (through_weights * scores[0], through_weights * scores[1], weighted[1])
        operands = [
            scaled_gradient(self.graph_of(t), f) if f != 0.0 else self.value_of(t) for t, f in zip((q, k, v), factors)
        ]
        bound.update(query=operands[0], key=operands[1], value=operands[2])
        return self._mark(F.scaled_dot_product_attention(**bound))

    def _inside(self, func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        """Run ``func`` with the engine active again (its operations are propagated one by one)."""
        TorchFunctionMode.__enter__(self)
        try:
            return func(*args, **kwargs)
        finally:
            TorchFunctionMode.__exit__(self, None, None, None)

    def _unseen(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        """An operation on carried tensors with gradients disabled: its value, noted as out of sight."""
        out = self._on_constant(func, args, kwargs)
        self._masks.note(func, args, out, self.carries)
        self._visibility.hide(tree_flatten(out)[0])
        return out

    def _check_visible(self, func: Callable[..., Any], leaves: Sequence[Any]) -> None:
        """Raise if relevance-carrying tensors are combined with input-derived ones the engine did not see."""
        if any(not self.carries(t) and self._visibility.unseen(t) for t in leaves):
            raise ModelError(
                f"{ops.describe(func)} in {self._where()} combines a tensor that carries relevance with one "
                "computed from the input where the engine cannot follow it (under torch.no_grad() inside "
                "forward, or in a custom torch.autograd.Function); that branch's relevance would be lost "
                "or bypass the propagation. Remove the no_grad block, .detach() the branch explicitly if "
                "it is meant to be a constant, or give the function a rule with "
                "xaikit.engine.explainable(rule)."
            )

    def _unknown(self, func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        with torch.no_grad():
            out = func(*tree_map(lambda t: self.value_of(t) if self.carries(t) else t, list(args)), **kwargs)
        self._masks.note(func, args, out, self.carries)
        outputs, _ = tree_flatten(out)
        if any(isinstance(t, Tensor) and t.dtype.is_floating_point for t in outputs):
            name = ops.describe(func)
            carried = [t for t in flat_leaves(args, kwargs) if self.carries(t)]
            if len(carried) == 1:
                fix = (
                    "If relevance crosses it like an activation, a reshape, a scaling or a sum, register "
                    f"it: xaikit.engine.register_operation({name}, 'activation' | 'route' | 'scale' | 'sum'); "
                    "otherwise give it a rule with xaikit.engine.explainable(rule)."
                )
            else:
                fix = (
                    f"It combines {len(carried)} tensors that carry relevance, which no registered family "
                    "fits: give it a rule with xaikit.engine.explainable(rule), or .detach() all but one "
                    "of them if they act as constants."
                )
            raise UnsupportedOperationError(
                f"xaikit cannot propagate relevance through {name} (called in {self._where()}). {fix} "
                "xaikit.engine.supported_operations() lists what is supported."
            )
        return out

    def _note_role(self, func: Callable[..., Any], family: str, args: list[Any], kwargs: dict[str, Any], result: Any) -> None:
        """Tag ``result`` as a gate (sigmoid-like output, or a shifted tanh) or a normalizing statistic.

        Products consult the tags: a gate or a statistic multiplying a signal is held
        constant, so the signal takes all relevance (signal-take-all for LSTM/GRU gates;
        the identity rule of a normalization such as RMS norm written out).
        """
        if not isinstance(result, Tensor) or not self.carries(result):
            return
        carried = [t for t in flat_leaves(args, kwargs) if self.carries(t)]
        roles = [self._roles.get(t) for t in carried]
        role: str | None = None
        if family == "activation":
            if func in ops.GATES:
                role = "gate"
            elif func in ops.SQUASHES:
                role = "squash"
            elif roles == ["statistic"]:
                role = "statistic"
        elif family in ("scale", "sum") and len(carried) == 1:
            if family == "sum" and result.numel() < carried[0].numel():
                role = "statistic"
            elif roles[0] == "squash":
                role = "gate" if family == "sum" else "squash"
            else:
                role = roles[0]
        elif family == "route" and len(carried) == 1:
            role = roles[0]
        elif carried and all(r == "statistic" for r in roles):
            role = "statistic"
        if role is not None:
            self._roles[result] = role

    def role_of(self, tensor: Tensor) -> str | None:
        """``"gate"`` for a sigmoid-like output in [0, 1] (also after reshaping or scaling),
        ``"squash"`` for a tanh, ``"statistic"`` for a normalizer, ``None`` otherwise.

        Parameters
        ----------
        tensor : torch.Tensor
            A tensor of this run's forward pass.

        Returns
        -------
        str or None
        """
        return self._roles.get(tensor)

    def _product_role(self, t: Tensor) -> str:
        role = self._roles.get(t)
        return role if role in ("gate", "statistic") else "signal"

    def _product(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        """A product of several carried tensors under the composite's product rule."""
        call, carried = self._call(func, args, kwargs)
        call = replace(call, roles=tuple(self._product_role(t) for t in carried))
        rule = self._elementwise_rule(self._info(OpKind.PRODUCT, func))
        return self._mark(self._elementwise_graph(OpKind.PRODUCT, rule, call, [self.graph_of(t) for t in carried]))

    def _on_softmax(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self._elementwise(OpKind.SOFTMAX, func, args, kwargs)

    def _on_statistic(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Variance, standard deviation, norms: normalizers, held constant (their value only)."""
        return self._on_constant(func, args, kwargs)

    def _on_einsum(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        carried = [t for t in flat_leaves(args, kwargs) if self.carries(t)]
        if len(carried) > 1:
            return self._product(func, args, kwargs)
        return self._elementwise(OpKind.SUM, func, args, kwargs)  # a linear map of the one carried operand

    # families ---------------------------------------------------------------
    def _on_constant(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        return func(*tree_map(lambda t: self.value_of(t) if self.carries(t) else t, args), **kwargs)

    def _on_detach(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        return func(*args, **kwargs)

    def _on_route(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        if func in ops.MAX_POOLS and not ops.returns_indices(func, args, kwargs):
            rule = self._assigned(self._info(OpKind.MAX_POOL, func))
            if rule is not None:
                return self._elementwise(OpKind.MAX_POOL, func, args, kwargs, rule)  # type: ignore[arg-type]
        carried = [t for t in flat_leaves(args, kwargs) if self.carries(t)]
        nonnegative = all(self.nonnegative(t) for t in carried) and func not in ops.PADDING
        return self._mark(func(*self._resolve(args), **self._resolve(kwargs)), nonnegative)

    def _on_dropout(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        training = kwargs.get("training", args[2] if len(args) > 2 else True)
        if training:
            raise ModelModeError(
                f"{ops.describe(func)} runs in training mode in {self._where()}; its output is random "
                "and explanations would be wrong. Call model.eval() before explaining."
            )
        # eval-mode dropout is the identity: hand back the tensor itself, keeping what the engine
        # knows of it (a pending layer output stays pending, so batch norm can still merge)
        return args[0]

    def _call(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> tuple[OpCall, list[Tensor]]:
        """The call as a rule sees it, and its carrying tensors."""
        return OpCall.of(func, args, kwargs, self.carries, self.value_of)

    def _elementwise(
        self,
        kind: OpKind,
        func: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        rule: ElementwiseRule | None = None,
    ) -> Any:
        call, carried = self._call(func, args, kwargs)
        value: Tensor | None = None  # in gradient units, computed by the rule's form of the operation
        if self.units is None:
            with torch.no_grad():
                value = call.on_values()
            if not isinstance(value, Tensor) or not value.dtype.is_floating_point:
                return value
        if rule is None:
            rule = self._elementwise_rule(self._info(kind, func))
        positive_only = kind is OpKind.ACTIVATION and ops.zeroes_negatives(func, args, kwargs)
        graphs = [self.graph_of(t, positive_only=positive_only) for t in carried]
        return self._mark(self._elementwise_graph(kind, rule, call, graphs, value), positive_only)

    def _custom(self, func: Callable[..., Any], rule: CustomRule, args: list[Any], kwargs: dict[str, Any]) -> Any:
        call, carried = self._call(func, args, kwargs)
        with torch.no_grad():
            value = call.on_values()
        graphs = [self.graph_of(t) for t in carried]
        units = self.units
        if units is None:
            return self._mark(rule(call, graphs, value))
        relevance = [units.to_relevance(g, call.value_of(i)) for i, g in enumerate(graphs)]
        return self._mark(units.from_relevance(rule(call, relevance, value)))

    def _on_activation(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self._elementwise(OpKind.ACTIVATION, func, args, kwargs)

    def _on_sum(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        folded = self._fold_bias(func, args, kwargs)
        if folded is not None:
            return folded
        return self._elementwise(OpKind.SUM, func, args, kwargs)

    def _fold_bias(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Tensor | None:
        """``layer(x) + c`` (or ``- c``) for a bias-free layer and a constant per output feature: the layer with bias ``c``.

        ``x @ W.T + b`` and ``F.linear(x, W) + b`` are then the layer ``nn.Linear`` is, and
        every rule that treats the bias (z+, gamma, alpha-beta, RAP) treats it alike.
        """
        if len(args) != 2 or any(k != "alpha" for k in kwargs) or kwargs.get("alpha", 1) != 1:
            return None
        if func in ops.REVERSED_SUBTRACTIONS:
            return None  # c - layer(x): the layer enters with a negative sign
        subtract = func in ops.SUBTRACTIONS
        if not (subtract or func in ops.ADDITIONS):
            return None
        a, b = args
        layer_first = self.carries(a) and not self.carries(b)
        if not layer_first and (subtract or not (self.carries(b) and not self.carries(a))):
            return None
        x, constant = (a, b) if layer_first else (b, a)
        layer = self.layer_of(x)
        if layer is None or not isinstance(constant, Tensor) or self._visibility.unseen(constant):
            return None
        op, source, rule = layer
        bias = bias_of(op, constant, x)
        if bias is None:
            return None
        with torch.no_grad():
            value = func(self.value_of(a) if self.carries(a) else a, self.value_of(b) if self.carries(b) else b)
        return self._emit(op.with_params(op.weight, -bias if subtract else bias), source, rule, value=value)

    def _on_scale(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        carried = [t for t in flat_leaves(args, kwargs) if self.carries(t)]
        name = getattr(func, "__name__", "")
        if len(carried) > 1 and func in ops.PRODUCTS:
            return self._product(func, args, kwargs)
        if len(carried) > 1 and func in ops.DIVISIONS and self._product_role(args[1]) != "signal":
            return self._product(func, args, kwargs)  # a signal over a held-constant normalizer
        if len(carried) == 1 and func in ops.DIVISIONS and not self.carries(args[0]):
            if self._roles.get(args[1]) == "statistic":
                return self._elementwise(OpKind.ACTIVATION, func, args, kwargs)  # c / statistic
        if len(carried) > 1:
            raise UnsupportedOperationError(
                f"{ops.describe(func)} in {self._where()} multiplies or divides two tensors that both "
                "carry relevance (a gating or attention product). Register a rule for it or make one "
                "factor a constant (for example .detach() the gate, as in LRP for LSTMs)."
            )
        if "div" in name and not self.carries(args[0]):
            raise UnsupportedOperationError(
                f"{ops.describe(func)} in {self._where()} divides by a tensor that carries relevance; "
                "this non-linear operation has no rule. Register one with xaikit.engine.register_operation."
            )
        return self._elementwise(OpKind.SCALE, func, args, kwargs)

    # parametric layers ------------------------------------------------------
    def _on_dense(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        if func in ops.LINEAR:
            return self._layer(OpKind.DENSE, func, args, kwargs, layout="right")
        a, b = args[0], args[1]
        if self.carries(a) and self.carries(b):
            return self._product(func, args, kwargs)
        name = getattr(func, "__name__", "")
        swapped = name == "__rmatmul__"
        x_first = self.carries(a) != swapped
        x, w = (a, b) if self.carries(a) else (b, a)
        layout = "matmul" if x_first else "left"
        op_func = torch.matmul
        return self._linear(OpKind.DENSE, op_func, x, w, None, (), {}, layout)

    def _on_conv(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self._layer(OpKind.CONV, func, args, kwargs, layout="right")

    def _on_conv_transpose(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self._layer(OpKind.CONV_TRANSPOSE, func, args, kwargs, layout="right")

    def _layer(self, kind: OpKind, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], layout: str) -> Any:
        kwargs = dict(kwargs)
        x = args[0] if args else kwargs.pop("input")
        w = args[1] if len(args) > 1 else kwargs.pop("weight")
        b = args[2] if len(args) > 2 else kwargs.pop("bias", None)
        if self.carries(w) or self.carries(b):
            raise UnsupportedOperationError(
                f"{ops.describe(func)} in {self._where()} has weights computed from the input; "
                "input-dependent weights (hypernetworks, attention) need a registered rule."
            )
        return self._linear(kind, func, x, w, b, tuple(args[3:]), kwargs, layout)

    def _linear(
        self,
        kind: OpKind,
        func: Callable[..., Any],
        x: Tensor,
        w: Tensor,
        b: Tensor | None,
        rest: tuple[Any, ...],
        kwargs: dict[str, Any],
        layout: str,
    ) -> Tensor:
        info = self._info(kind, func)
        rule = self._layer_rule(info)
        op = LinearOp(
            func=func,
            weight=w.detach(),
            bias=None if b is None else b.detach(),
            info=info,
            args=rest,
            kwargs=kwargs,
            layout=layout,
            input_nonnegative=self.nonnegative(x),
            sources=(w, b),
            generation=self.generation,
        )
        return self._emit(op, x, rule)

    def _emit(self, op: LinearOp, x: Tensor, rule: LayerRule, value: Tensor | None = None) -> Tensor:
        """Register the layer output: its graph now if the rule computes the output anyway, else later.

        A rule that :attr:`~xaikit.engine.LayerRule.computes_layer_output` has its graph
        built at once and the output read off :meth:`LinearOp.own_forward`; if the rule did
        not run it on the layer input, the output is computed here, so the flag can never
        change the model's values. Other rules' graphs are built when first consumed (so a
        following batch normalization can be merged into the layer first).
        """
        if rule.computes_layer_output or self.units is not None:
            inputs = self.value_of(x)
            op.memo["input"] = inputs
            built = self._layer_graph(rule, op, x)
            assert built is not None
            if value is None:
                value = op.computed_output()
            if value is None:
                value = op.value(inputs)
            graph = graft(built, value)
            self._carry[graph] = _Carry(own=True, op=op, source=x, rule=rule)
            return graph
        out = op.value(self.value_of(x)) if value is None else value
        self._carry[out] = _Carry(op=replace(op, output=out.detach()), source=x, rule=rule)
        return out

    # special cases ----------------------------------------------------------
    def _on_special(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        if func is ops.BATCH_NORM:
            return self._batch_norm(args, kwargs)
        if func in ops.ATEN_BATCH_NORM:
            names = ["input", "weight", "bias", "running_mean", "running_var", "training", "momentum", "eps"]
            bound = dict(zip(names, args))
            bound.update(kwargs)
            return self._batch_norm([], {k: v for k, v in bound.items() if k in names})
        if func is ops.INTERPOLATE:
            mode = kwargs.get("mode", args[3] if len(args) > 3 else "nearest")
            if mode in ("nearest", "nearest-exact"):
                return self._on_route(func, args, kwargs)
            return self._elementwise(OpKind.SUM, func, args, kwargs)
        if func in (ops.LAYER_NORM, ops.GROUP_NORM):
            return self._normalization(func, args, kwargs)
        raise AssertionError(func)

    def _batch_norm(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        names = ["input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"]
        bound = dict(zip(names, args))
        bound.update(kwargs)
        if bound.get("training", False):
            raise ModelModeError(
                f"batch normalization runs in training mode in {self._where()}; its output depends on "
                "the batch and explanations would be wrong. Call model.eval() before explaining."
            )
        x = bound["input"]
        if not self.carries(x) or any(self.carries(bound.get(k)) for k in names[1:5]):
            raise UnsupportedOperationError(
                f"batch normalization in {self._where()} has statistics computed from the input"
            )
        mean, var = bound["running_mean"], bound["running_var"]
        if mean is None or var is None:
            raise ModelModeError(
                f"batch normalization in {self._where()} has no running statistics (track_running_stats="
                "False) and normalizes by batch statistics; explanations would depend on the batch."
            )
        with torch.no_grad():
            value = F.batch_norm(self.value_of(x), mean, var, bound.get("weight"), bound.get("bias"), False, 0.0, bound.get("eps", 1e-5))
        layer = self.layer_of(x) if self.merge_batchnorm else None
        if layer is not None and layer[0].layout == "right" and layer[0].info.kind in (OpKind.DENSE, OpKind.CONV):
            op, source, rule = layer
            eps = bound.get("eps", 1e-5)
            scale = torch.rsqrt(var.detach() + eps)
            if bound.get("weight") is not None:
                scale = scale * bound["weight"].detach()
            shift = -mean.detach() * scale
            if bound.get("bias") is not None:
                shift = shift + bound["bias"].detach()
            weight = op.weight * scale.view(-1, *([1] * (op.weight.ndim - 1)))
            bias = shift if op.bias is None else op.bias * scale + shift
            return self._emit(op.with_params(weight, bias), source, rule, value=value)

        def normalize(g: Tensor) -> Tensor:
            return F.batch_norm(g, mean, var, bound.get("weight"), bound.get("bias"), False, 0.0, bound.get("eps", 1e-5))

        return self._normalized(F.batch_norm, normalize, x, value)

    def _normalized(
        self, func: Callable[..., Any], normalize: Callable[[Tensor], Tensor], x: Tensor, value: Tensor
    ) -> Any:
        """The normalization ``func`` with constant statistics (``normalize``, linear in ``x``) under the ``sum`` rule."""
        call, carried = self._call(normalize, [x], {})
        rule = self._elementwise_rule(self._info(OpKind.SUM, func))
        return self._mark(self._elementwise_graph(OpKind.SUM, rule, call, [self.graph_of(t) for t in carried], value))

    def _normalization(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Layer/group norm with the normalizing statistics held constant (Ali et al., 2022)."""
        call, carried = self._call(func, args, kwargs)
        if len(carried) != 1 or carried[0] is not args[0]:
            raise UnsupportedOperationError(f"{ops.describe(func)} in {self._where()} with input-dependent parameters")
        x = args[0]
        if func is ops.LAYER_NORM:
            names = ["input", "normalized_shape", "weight", "bias", "eps"]
            bound = dict(zip(names, args))
            bound.update(kwargs)
            shape = tuple(bound["normalized_shape"])
            dims = tuple(range(-len(shape), 0))
            with torch.no_grad():  # the output and its statistics in one pass
                value, _, inv_std = torch.native_layer_norm(
                    self.value_of(x), shape, bound.get("weight"), bound.get("bias"), bound.get("eps", 1e-5)
                )
            inv_std = inv_std.to(value.dtype)  # float32 statistics for half-precision inputs

            def normalize(g: Tensor) -> Tensor:
                out = (g - g.mean(dim=dims, keepdim=True)) * inv_std
                if bound.get("weight") is not None:
                    out = out * bound["weight"]
                if bound.get("bias") is not None:
                    out = out + bound["bias"]
                return out
        else:
            with torch.no_grad():
                value = call.on_values()
            names = ["input", "num_groups", "weight", "bias", "eps"]
            bound = dict(zip(names, args))
            bound.update(kwargs)
            groups = int(bound["num_groups"])
            eps = bound.get("eps", 1e-5)
            xd = self.value_of(x)
            grouped = xd.reshape(xd.shape[0], groups, -1)
            inv_std = torch.rsqrt(grouped.var(dim=2, keepdim=True, unbiased=False) + eps)
            affine_shape = [1, -1] + [1] * (x.ndim - 2)

            def normalize(g: Tensor) -> Tensor:
                gg = g.reshape(g.shape[0], groups, -1)
                out = ((gg - gg.mean(dim=2, keepdim=True)) * inv_std).reshape(g.shape)
                if bound.get("weight") is not None:
                    out = out * bound["weight"].view(affine_shape)
                if bound.get("bias") is not None:
                    out = out + bound["bias"].view(affine_shape)
                return out

        return self._normalized(func, normalize, x, value)
