"""The methods an evaluation compares: :class:`MethodSpec` and the forms that make them.

:func:`~xaikit.evaluate.evaluate` and :func:`~xaikit.evaluate.explanation_rate` accept
the same ``methods`` argument; :func:`method_specs` normalizes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xaikit.core.base import Explainer
from xaikit.evaluate._common import MethodLike, method_label

__all__ = ["MethodSpec", "MethodsLike", "method_specs"]


@dataclass(frozen=True)
class MethodSpec:
    """A method to evaluate: a label, the method (name, explainer or callable) and its options."""

    label: str
    method: MethodLike
    options: Mapping[str, Any] = field(default_factory=dict)


MethodsLike = (
    Mapping[str, MethodLike | tuple[str, Mapping[str, Any]]] | Sequence[MethodLike | MethodSpec] | MethodLike
)


def method_specs(methods: MethodsLike) -> list[MethodSpec]:
    """Normalize the forms :func:`~xaikit.evaluate.evaluate` accepts for ``methods``.

    Parameters
    ----------
    methods : str, Explainer, callable, MethodSpec, sequence or mapping
        One method, a list of names, explainers, callables or :class:`MethodSpec`; or a
        mapping from label to a name, an explainer, a callable, or a ``(name, options)``
        pair, for example ``{"LRP z+": ("lrp", {"composite": "zplus"}), "saliency": "saliency"}``.

    Returns
    -------
    list of MethodSpec
        One spec per method, in the given order, with distinct labels.

    Raises
    ------
    TypeError
        For a malformed ``(name, options)`` pair, or a pair given in a list.
    ValueError
        For no methods, or two methods with the same label.
    """
    specs: list[MethodSpec] = []
    if isinstance(methods, str | Explainer | MethodSpec) or (
        callable(methods) and not isinstance(methods, Mapping)
    ):
        methods = [methods]
    if isinstance(methods, Mapping):
        for label, value in methods.items():
            if isinstance(value, tuple):
                if len(value) != 2 or not isinstance(value[0], str) or not isinstance(value[1], Mapping):
                    raise TypeError(f"method {label!r}: a tuple must be (name, options dict)")
                specs.append(MethodSpec(str(label), value[0], dict(value[1])))
            else:
                specs.append(MethodSpec(str(label), value))
    else:
        for item in methods:
            if isinstance(item, MethodSpec):
                specs.append(item)
            elif isinstance(item, tuple):
                raise TypeError("use a mapping {label: (name, options)} to give methods with options")
            else:
                specs.append(MethodSpec(method_label(item), item))
    if not specs:
        raise ValueError("give at least one method to evaluate")
    labels = [s.label for s in specs]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(
            f"methods {duplicates} appear more than once; give a mapping from distinct labels to methods, "
            "for example {'lrp-eps': ('lrp', {'composite': 'epsilon'}), 'lrp-z+': ('lrp', {'composite': 'zplus'})}"
        )
    return specs
