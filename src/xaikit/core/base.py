"""The base class of all explainers."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from xaikit.core.explanation import Explanation
from xaikit.core.probe import check_result, probe_model
from xaikit.core.targets import ResolvedTarget, Target, TargetLike, as_target
from xaikit.core.validation import (
    check_eval_mode,
    check_inputs,
    preserved_model_state,
    to_model_dtype,
)
from xaikit.core.wrappers import (
    EmbeddedInputs,
    OutputSelector,
    SelectedOutput,
    find_token_embedding,
)

Model = Callable[[Tensor], Tensor]


@dataclass
class Attribution:
    """What an explainer's :meth:`Explainer.attribute` returns.

    Parameters
    ----------
    attribution : torch.Tensor
        Relevance of each input feature, the inputs' shape.
    output : torch.Tensor
        ``(N,)`` the explained value (``f(x) - f(reference)`` for reference-based methods).
    target : ResolvedTarget
        The target bound to the model output.
    extras : dict
        Method-specific results.
    baseline : torch.Tensor or None
        ``(N,)`` the explained value at the method's reference (``f(baseline)``, or its
        mean over a background set), so that ``baseline + output == f(x)``; ``None`` for
        methods without a reference. Becomes :attr:`Explanation.baseline`.
    per_sample_extras : collection of str or None
        The names of the extras with one row per sample; ``None`` lets
        :class:`Explanation` decide by its rule (:func:`xaikit.core.explanation.is_per_sample`).
    """

    attribution: Tensor
    output: Tensor
    target: ResolvedTarget
    extras: dict[str, Any] = field(default_factory=dict)
    baseline: Tensor | None = None
    per_sample_extras: Collection[str] | None = None


class Explainer(ABC):
    """An explanation method: construct it with its options, call it on model, inputs, target.

    Subclasses implement :meth:`attribute` and store each constructor argument as an
    attribute of the same name (so that :attr:`options` can report them).
    """

    name: ClassVar[str] = "explainer"
    #: Whether the model must be in eval mode (dropout/batch-norm in training mode raise).
    requires_eval: ClassVar[bool] = True

    @property
    def options(self) -> dict[str, Any]:
        """The constructor options of this explainer, as set."""
        params = inspect.signature(type(self).__init__).parameters
        return {
            p: getattr(self, p)
            for p in params
            if p != "self" and hasattr(self, p)
        }

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"

    def __call__(
        self,
        model: Model,
        inputs: Tensor,
        target: TargetLike = None,
        *,
        feature_names: Sequence[str] | None = None,
        output: OutputSelector | None = None,
    ) -> Explanation:
        """Explain ``model``'s predictions on the batch ``inputs`` for ``target``.

        Parameters
        ----------
        model : torch.nn.Module or callable
            Maps a batch ``(N, ...)`` to outputs ``(N, classes)`` or ``(N,)``.
        inputs : torch.Tensor
            The batch to explain; never modified.
        target : int, tensor, callable, Target or None
            What to explain; the predicted class by default. See :func:`xaikit.core.as_target`.
        feature_names : sequence of str, optional
            Names of the input features (tabular data), kept for plots.
        output : str, int or callable, optional
            The entry of a dict, tuple or ``ModelOutput`` output to explain (see
            :class:`~xaikit.core.wrappers.SelectedOutput`).

        Notes
        -----
        Integer token ids for a model that embeds them (one ``nn.Embedding`` reads them)
        are explained at the embedding's output: ``attribution`` is ``(N, T)``, the sum
        over the embedding dimensions; ``extras["embedding_relevance"]`` holds the
        ``(N, T, D)`` relevance and ``extras["embeddings"]`` the embeddings explained
        (reference-based methods take their baselines in that space).
        """
        if output is not None:
            model = SelectedOutput(model, output)
        tokens: EmbeddedInputs | None = None
        ids = inputs
        if isinstance(inputs, Tensor) and not (inputs.dtype.is_floating_point or inputs.dtype == torch.bool):
            check_inputs(inputs.float(), name="token ids")  # shape and batch checks
            tokens = EmbeddedInputs(model, find_token_embedding(model, inputs))
            model, inputs = tokens, tokens.embed(inputs)
        x = to_model_dtype(model, check_inputs(inputs))
        if self.requires_eval:
            check_eval_mode(model)
        with preserved_model_state(model):
            probe_model(model, x)
            result = self.attribute(model, x, as_target(target))
        check_result(model, result.attribution, result.output, self.name)
        attribution, extras, explained = result.attribution, result.extras, x.detach()
        per_sample = None if result.per_sample_extras is None else frozenset(result.per_sample_extras)
        if tokens is not None:
            extras = {**extras, "embedding_relevance": attribution, "embeddings": explained}
            per_sample = None if per_sample is None else per_sample | {"embedding_relevance", "embeddings"}
            attribution, explained = attribution.sum(-1), ids.detach()
        return Explanation(
            attribution=attribution,
            output=result.output,
            target=result.target.index,
            method=self.name,
            options=self.options,
            inputs=explained,
            extras=extras,
            feature_names=feature_names,
            baseline=result.baseline,
            per_sample_extras=per_sample,
        )

    @abstractmethod
    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        """Compute the attribution (inputs already validated, model state guarded)."""
