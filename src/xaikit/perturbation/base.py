"""Shared machinery of the perturbation explainers: option checks, setup, coalition games.

:class:`CoalitionExplainer` is the base of the methods that treat feature groups as the
players of a cooperative game (Shapley values, KernelSHAP, LIME). A subclass *plans* the
coalitions to evaluate for a sample with ``G`` groups and *solves* for one value per
group from their values; the base class evaluates the planned coalitions of all samples
together in batched forward passes, always including the empty and the full coalition,
and spreads group values over the input elements.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import Tensor

from xaikit.core.base import Attribution, Explainer, Model
from xaikit.core.forward import auto_batch_size, forward
from xaikit.core.targets import ResolvedTarget, Target
from xaikit.perturbation.baseline import BaselineLike, resolve_baseline
from xaikit.perturbation.groups import FeatureGroups, GroupsLike, resolve_groups
from xaikit.perturbation.masking import MaskedForward, RemovedMask
from xaikit.utils.options import check_batch_size
from xaikit.utils.random import as_numpy_rng

__all__ = ["CoalitionExplainer", "SampledCoalitionExplainer", "removed_by_coalitions", "setup_game"]

PlanT = TypeVar("PlanT")


def setup_game(
    model: Model,
    inputs: Tensor,
    target: Target,
    baseline: BaselineLike,
    batch_size: int | None,
    progress: bool | None,
    desc: str,
) -> tuple[MaskedForward, ResolvedTarget, Tensor]:
    """Evaluate the unperturbed batch, resolve the target, and build the masking engine.

    Returns
    -------
    game : MaskedForward
        Evaluates copies of the inputs with removed elements replaced by the baseline.
    resolved : ResolvedTarget
        The target bound to the model output on the inputs.
    value : torch.Tensor
        ``(N,)`` the explained value ``f(x)`` of each sample.
    """
    removal = resolve_baseline(baseline, inputs)
    output = forward(model, inputs, batch_size or auto_batch_size(model, inputs))
    resolved = target.resolve(output.detach())
    value = resolved.select(output).detach()
    game = MaskedForward(model, inputs, removal, resolved, batch_size, progress=progress, desc=desc)
    return game, resolved, value


def removed_by_coalitions(
    coalitions: Tensor, groups: FeatureGroups, sample_ids: Tensor, row_index: Tensor | None = None
) -> RemovedMask:
    """A :data:`~xaikit.perturbation.masking.RemovedMask` removing the groups left out of each row's coalition.

    Parameters
    ----------
    coalitions : torch.Tensor
        ``(U, G)`` bool, the groups kept in each coalition (padded to the largest group count).
    groups : FeatureGroups
        The groups of the batch.
    sample_ids : torch.Tensor
        ``(R,)`` the sample of each row.
    row_index : torch.Tensor, optional
        ``(R,)`` the coalition of each row (so that samples can share coalitions);
        row ``r`` uses coalition ``r`` when omitted.

    Returns
    -------
    RemovedMask
        ``(B, F)`` masks of the removed elements of a chunk of rows.
    """
    labels = groups.labels
    left_out = ~coalitions.to(labels.device)

    def removed(rows: slice) -> Tensor:
        chosen = left_out[rows] if row_index is None else left_out[row_index[rows].to(labels.device)]
        return torch.gather(chosen, 1, labels[sample_ids[rows].to(labels.device)])

    return removed


@dataclass(eq=False, repr=False)
class CoalitionExplainer(Explainer, Generic[PlanT]):
    """Base of the explainers that play a cooperative game over feature groups.

    A dataclass: the options every coalition explainer takes are keyword-only fields
    declared here once (``groups``, ``baseline``, ``group_attribution``, ``batch_size``,
    ``progress``); a subclass declares its own options as fields, checks them in
    ``__post_init__`` (after calling this one) and implements :meth:`plan` and
    :meth:`solve`. Samples with the same number of groups share one plan when it is
    deterministic (an integer seed, or no randomness), so that the solve runs once for
    all of them.
    """

    groups: GroupsLike = field(default=None, kw_only=True)
    baseline: BaselineLike = field(default=None, kw_only=True)
    group_attribution: str = field(default="divide", kw_only=True)
    batch_size: int | None = field(default=None, kw_only=True)
    progress: bool | None = field(default=None, kw_only=True)
    #: Evaluate repeated coalitions of a plan once (for methods that sample with replacement).
    deduplicate: ClassVar[bool] = False
    #: Whether :meth:`plan` draws random numbers.
    random_plan: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._check_common()

    def _seed(self) -> int | np.random.Generator | None:
        """Randomness of :meth:`plan` (none for a deterministic plan)."""
        return None

    def _check_common(self) -> None:
        check_batch_size(self.batch_size)
        if self.group_attribution not in ("divide", "repeat"):
            raise ValueError(
                f"group_attribution must be 'divide' (share a group's value among its elements) or "
                f"'repeat' (give each element the group's value), got {self.group_attribution!r}"
            )

    def check_groups(self, groups: FeatureGroups) -> None:
        """Hook to refuse group counts a method cannot handle (default: accept)."""

    @abstractmethod
    def plan(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, PlanT]:
        """Coalitions to evaluate for a sample with ``count`` groups.

        Returns a ``(K, count)`` bool array (empty and full coalition need not be
        included) and any state :meth:`solve` needs.
        """

    @abstractmethod
    def solve(
        self, state: PlanT, coalitions: np.ndarray, values: np.ndarray, empty: np.ndarray, full: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Group values of ``S`` samples sharing a plan.

        Parameters
        ----------
        state, coalitions
            What :meth:`plan` returned (coalitions ``(K, count)``).
        values : numpy.ndarray
            ``(S, K)`` values of the planned coalitions for each sample.
        empty, full : numpy.ndarray
            ``(S,)`` values of the empty and the full coalition.

        Returns
        -------
        values : numpy.ndarray
            ``(S, count)`` group values.
        extras : dict
            Per-sample extras, arrays with leading dimension ``S``.
        """

    def attribute(self, model: Model, inputs: Tensor, target: Target) -> Attribution:
        self._check_common()
        game, resolved, value = setup_game(
            model, inputs, target, self.baseline, self.batch_size, self.progress, self.name
        )
        groups = resolve_groups(self.groups, inputs)
        self.check_groups(groups)
        # an integer seed restarts the stream for every sample: a sample's result does
        # not depend on the rest of the batch, and equal group counts share one plan
        seed = self._seed()
        reuse = not self.random_plan or isinstance(seed, int | np.integer)
        shared = as_numpy_rng(seed)
        cache: dict[int, _Plan[PlanT]] = {}
        result = _Results(len(groups.counts), groups.max_count)
        pending: list[tuple[int, _Plan[PlanT]]] = []
        pending_rows = 0
        for n, count in enumerate(groups.counts):
            plan = cache.get(count) if reuse else None
            if plan is None:
                rng = as_numpy_rng(seed) if reuse else shared
                plan = self._make_plan(count, groups.max_count, rng)
                if reuse:
                    cache[count] = plan
            pending.append((n, plan))
            pending_rows += len(plan.rows)
            if pending_rows >= ROUND_ROWS:
                self._play(game, groups, pending, result)
                pending, pending_rows = [], 0
        if pending:
            self._play(game, groups, pending, result)

        group_values = torch.from_numpy(result.phi).to(device=inputs.device, dtype=inputs.dtype)
        spread = groups.spread(torch.from_numpy(result.phi), self.group_attribution)  # float64, on the CPU
        attribution = spread.to(device=inputs.device, dtype=inputs.dtype).reshape(inputs.shape)
        out: dict[str, Any] = {
            "group_values": group_values,
            "group_labels": groups.labels.reshape(inputs.shape),
            "group_counts": torch.tensor(groups.counts),
            "group_names": groups.names,
            "model_output": value,
            "baseline_output": torch.from_numpy(result.empty).to(device=inputs.device, dtype=value.dtype),
            "evaluations": torch.from_numpy(result.evaluations * game.rows),
        }
        for key, items in result.extras.items():
            out[key] = _stack(items, inputs.device)
        explained = torch.from_numpy(result.full - result.empty).to(device=inputs.device, dtype=value.dtype)
        per_sample = set(out) - {"group_names"}  # group_names describes the batch's groups
        return Attribution(attribution, explained, resolved, out, out["baseline_output"], per_sample)

    def _make_plan(self, count: int, width: int, rng: np.random.Generator) -> _Plan[PlanT]:
        """Plan for ``count`` groups; rows to evaluate: empty, full, then the coalitions."""
        coalitions, state = self.plan(count, rng)
        rows = np.zeros((len(coalitions) + 2, width), dtype=bool)
        rows[1, :count] = True
        rows[2:, :count] = coalitions
        inverse = None
        if self.deduplicate:
            rows, inverse = np.unique(rows, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
        return _Plan(coalitions, state, rows, inverse)

    def _play(
        self, game: MaskedForward, groups: FeatureGroups, pending: list[tuple[int, _Plan[PlanT]]], result: _Results
    ) -> None:
        """Evaluate the rows of the ``pending`` samples together and solve them plan by plan."""
        plans: dict[int, _Plan[PlanT]] = {}
        for _, plan in pending:
            plans.setdefault(id(plan), plan)
        offsets, start = {}, 0
        for key, plan in plans.items():
            offsets[key] = start
            start += len(plan.rows)
        coalitions = torch.from_numpy(np.concatenate([plan.rows for plan in plans.values()]))
        ids = np.concatenate([np.full(len(plan.rows), n, dtype=np.int64) for n, plan in pending])
        index = np.concatenate([offsets[id(plan)] + np.arange(len(plan.rows)) for _, plan in pending])
        sample_ids = torch.from_numpy(ids)
        removed = removed_by_coalitions(coalitions, groups, sample_ids, torch.from_numpy(index))
        flat = game.values(sample_ids, removed).to("cpu", torch.float64).numpy()
        by_plan: dict[int, list[tuple[int, np.ndarray]]] = {}
        start = 0
        for n, plan in pending:
            block = flat[start : start + len(plan.rows)]
            start += len(plan.rows)
            by_plan.setdefault(id(plan), []).append((n, block if plan.inverse is None else block[plan.inverse]))
        for key, members in by_plan.items():
            plan = plans[key]
            samples = np.array([n for n, _ in members])
            table = np.stack([block for _, block in members])
            phi, extras = self.solve(plan.state, plan.coalitions, table[:, 2:], table[:, 0], table[:, 1])
            result.phi[samples, : phi.shape[1]] = phi
            result.empty[samples], result.full[samples] = table[:, 0], table[:, 1]
            result.evaluations[samples] = len(plan.rows)
            for name, item in extras.items():
                store = result.extras.setdefault(name, [None] * len(result.empty))
                for row, n in enumerate(samples):
                    store[n] = item[row]


@dataclass(eq=False, repr=False)
class SampledCoalitionExplainer(CoalitionExplainer[PlanT]):
    """A coalition explainer whose plan is random: adds the keyword-only ``seed``.

    An int seed makes results deterministic and seeds every sample's draws alike, so a
    sample's result does not depend on the rest of the batch; a Generator is drawn from
    in turn; ``None`` takes fresh entropy.
    """

    seed: int | np.random.Generator | None = field(default=0, kw_only=True)
    random_plan: ClassVar[bool] = True

    def _seed(self) -> int | np.random.Generator | None:
        return self.seed


#: Rows (perturbed inputs) planned before evaluating them; bounds the bookkeeping memory.
ROUND_ROWS = 2**22


@dataclass(frozen=True, eq=False)
class _Plan(Generic[PlanT]):
    coalitions: np.ndarray
    state: PlanT
    rows: np.ndarray
    inverse: np.ndarray | None


class _Results:
    def __init__(self, samples: int, width: int) -> None:
        self.phi = np.zeros((samples, width))
        self.empty = np.zeros(samples)
        self.full = np.zeros(samples)
        self.evaluations = np.zeros(samples, dtype=np.int64)
        self.extras: dict[str, list[Any]] = {}


def _stack(items: list[Any], device: torch.device) -> Any:
    if all(isinstance(i, float | int | np.floating | np.integer) for i in items):
        return torch.tensor(np.asarray(items, dtype=np.float64), device=device)
    if all(isinstance(i, np.ndarray) for i in items) and len({i.shape for i in items}) == 1:
        return torch.from_numpy(np.stack(items)).to(device)
    return items
