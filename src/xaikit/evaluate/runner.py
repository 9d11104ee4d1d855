"""One call that evaluates several methods with several metrics: :func:`evaluate`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor, nn

from xaikit.core.base import Model
from xaikit.core.targets import TargetLike
from xaikit.core.validation import preserved_model_state
from xaikit.evaluate._common import (
    as_explain_fn,
    explain_batched,
    prepare_inputs,
    resolve_target,
)
from xaikit.evaluate.axioms import completeness_gap, continuity
from xaikit.evaluate.complexity import entropy, gini, jpeg_size
from xaikit.evaluate.faithfulness import faithfulness_correlation, pixel_flipping, sensitivity_n
from xaikit.evaluate.localization import (
    outside_inside_ratio,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    segmentation_scores,
)
from xaikit.evaluate.randomization import (
    RandomizationResult,
    class_sensitivity,
    model_randomization,
)
from xaikit.evaluate.registry import Context, Metric, Scores, get_metric, register_metric
from xaikit.evaluate.relevance_gain import relevance_gain
from xaikit.evaluate.revisited import efficient_model_randomization, smooth_model_randomization
from xaikit.evaluate.road import road
from xaikit.evaluate.runtime import explanation_rate
from xaikit.evaluate.shapley_axioms import shapley_axioms
from xaikit.evaluate.specs import MethodsLike, method_specs
from xaikit.utils.options import accepts_old_names, check_options
from xaikit.utils.progress_bars import progress as progress_bar

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["method", "metric", "score", "detail", "sample", "value"]


@register_metric("pixel_flipping", options=("orders", pixel_flipping))
def _pixel_flipping(ctx: Context) -> Scores:
    out = Scores()
    opts = {"batch_size": ctx.batch_size, "seed": ctx.seed, "progress": False, **ctx.options}
    orders = opts.pop("orders", ("morf", "lerf", "random"))
    results = {}
    for order in orders:
        key = ("pixel_flipping_random", repr(sorted(opts.items())))
        if order == "random" and key in ctx.cache:
            results[order] = ctx.cache[key]
            continue
        results[order] = pixel_flipping(ctx.model, ctx.x, ctx.attribution, ctx.fixed_target, order=order, **opts)
        if order == "random":
            ctx.cache[key] = results[order]
    for order, result in results.items():
        out.add(f"aopc_{order}", result.aopc)
        out.add(f"auc_{order}", result.auc)
        out.raw[order] = result
    if "morf" in results and "random" in results:
        out.add("aopc_gain", results["morf"].aopc - results["random"].aopc)
    return out


@register_metric("region_perturbation", options=("orders", pixel_flipping))
def _region_perturbation(ctx: Context) -> Scores:
    spatial = ctx.x.shape[2:] if ctx.x.ndim >= 3 else ctx.x.shape[1:]
    options = {"patch": max(1, min(4, *[s // 2 for s in spatial])), "removal": "uniform", **ctx.options}
    return _pixel_flipping(Context(**{**ctx.__dict__, "options": options}))


def _on_attribution(ctx: Context, metric: Callable[..., Any]) -> Any:
    """``metric(model, x, attribution, target, ...)`` with the run's batch size and seed, quietly, and the options."""
    options = {"batch_size": ctx.batch_size, "seed": ctx.seed, "progress": False, **ctx.options}
    return metric(ctx.model, ctx.x, ctx.attribution, ctx.fixed_target, **options)


@register_metric("road", options=(road,))
def _road(ctx: Context) -> Scores:
    out = Scores()
    if ctx.x.ndim < 3:  # tabular: no neighbours to impute from; one NaN row says why
        out.add("gap", float("nan"), detail="not applicable: ROAD imputes from neighbours (series, images)")
        return out
    result = _on_attribution(ctx, road)
    out.raw["road"] = result
    out.add("auc_morf", result.morf.auc)
    out.add("auc_lerf", result.lerf.auc)
    out.add("gap", result.gap)
    return out


@register_metric("relevance_gain", options=(relevance_gain,))
def _relevance_gain(ctx: Context) -> Scores:
    result = _on_attribution(ctx, relevance_gain)
    out = Scores(raw={"relevance_gain": result})
    out.add("srg", result.srg)
    return out


@register_metric("faithfulness_correlation", options=(faithfulness_correlation,))
def _faithfulness_correlation(ctx: Context) -> Scores:
    result = _on_attribution(ctx, faithfulness_correlation)
    out = Scores(raw={"subsets": result})
    out.add("correlation", result.correlation)
    return out


@register_metric("sensitivity_n", options=(sensitivity_n,))
def _sensitivity_n(ctx: Context) -> Scores:
    result = _on_attribution(ctx, sensitivity_n)
    out = Scores(raw={"sensitivity_n": result})
    for k, n in enumerate(result.n):
        out.add("correlation", result.correlation[k], detail=f"n={n}")
        out.add("gap", result.gap[k], detail=f"n={n}")
    return out


def _layer_scores(out: Scores, result: RandomizationResult) -> Scores:
    """Each similarity per randomized layer (mean over seeds and samples), and after the last layer."""
    for name, values in result.scores.items():
        per_layer = np.nanmean(values, axis=0)
        for k, layer in enumerate(result.layers):
            out.add(name, per_layer[k], detail=layer)
        out.add(f"{name}_last", per_layer[-1])
    return out


def _randomization(order: str) -> Metric:
    """The randomization metric for one layer ``order``."""

    def metric(ctx: Context) -> Scores:
        if not isinstance(ctx.model, nn.Module):
            raise TypeError("randomization needs a torch.nn.Module")
        opts = {"batch_size": ctx.batch_size, "seeds": (ctx.seed,), "progress": False, **ctx.options}
        result = model_randomization(
            ctx.model, ctx.x, ctx.spec.method, ctx.fixed_target, order=order,
            method_options=ctx.spec.options, attribution=ctx.attribution, **opts,
        )
        return _layer_scores(Scores(raw={"randomization": result}), result)

    return metric


@register_metric("emprt", options=(efficient_model_randomization,))
def _emprt(ctx: Context) -> Scores:
    if not isinstance(ctx.model, nn.Module):
        raise TypeError("eMPRT needs a torch.nn.Module")
    opts = {"batch_size": ctx.batch_size, "seed": ctx.seed, **ctx.options}
    result = efficient_model_randomization(ctx.model, ctx.x, ctx.spec.method, ctx.fixed_target,
                                           method_options=ctx.spec.options, attribution=ctx.attribution, **opts)
    out = Scores(raw={"emprt": result})
    scores = {"complexity_rise": result.scores, "entropy": result.original_entropy,
              "random_entropy": result.random_entropy}
    for name, values in scores.items():
        out.add(name, values)
    return out


@register_metric("smprt", options=(smooth_model_randomization,))
def _smprt(ctx: Context) -> Scores:
    if not isinstance(ctx.model, nn.Module):
        raise TypeError("sMPRT needs a torch.nn.Module")
    opts = {"batch_size": ctx.batch_size, "seeds": (ctx.seed,), "progress": False, **ctx.options}
    result = smooth_model_randomization(ctx.model, ctx.x, ctx.spec.method, ctx.fixed_target,
                                        method_options=ctx.spec.options, **opts)
    return _layer_scores(Scores(raw={"smprt": result}), result)


@register_metric("shapley_axioms", options=(shapley_axioms,))
def _shapley_axioms(ctx: Context) -> Scores:
    """The method on the axiom games (independent of the inputs evaluated)."""
    opts = {"seed": ctx.seed, **ctx.options}
    table = shapley_axioms(ctx.spec.method, ctx.spec.options, **opts)
    out = Scores(raw={"shapley_axioms": table})
    for axiom, error in zip(table["axiom"], table["error"], strict=True):
        out.add("error", error, detail=axiom)
    return out


@register_metric("class_sensitivity", options=(class_sensitivity,))
def _class_sensitivity(ctx: Context) -> Scores:
    opts = {"batch_size": ctx.batch_size, "seed": ctx.seed, **ctx.options}
    result = class_sensitivity(
        ctx.model, ctx.x, ctx.spec.method, ctx.fixed_target, method_options=ctx.spec.options, **opts
    )
    out = Scores(raw={"class_sensitivity": result})
    for name, values in result.scores.items():
        out.add(name, values)
    return out


@register_metric("complexity", options=(jpeg_size,))
def _complexity(ctx: Context) -> Scores:
    out = Scores()
    jpeg_opts = {k: v for k, v in ctx.options.items() if k in ("quality", "cmap", "size")}
    out.add("jpeg_bytes", jpeg_size(ctx.attribution, **jpeg_opts))
    out.add("gini", gini(ctx.attribution))
    out.add("entropy", entropy(ctx.attribution))
    return out


@register_metric("localization", options=(segmentation_scores,))
def _localization(ctx: Context) -> Scores:
    if ctx.masks is None:
        raise ValueError("the localization metric needs ground-truth masks: evaluate(..., masks=...)")
    out = Scores()
    out.add("pointing_game", pointing_game(ctx.attribution, ctx.masks))
    out.add("relevance_mass_accuracy", relevance_mass_accuracy(ctx.attribution, ctx.masks))
    out.add("relevance_rank_accuracy", relevance_rank_accuracy(ctx.attribution, ctx.masks))
    out.add("outside_inside_ratio", outside_inside_ratio(ctx.attribution, ctx.masks))
    for name, values in segmentation_scores(ctx.attribution, ctx.masks, **ctx.options).items():
        out.add(name, values)
    return out


@register_metric("completeness", options=(completeness_gap,))
def _completeness(ctx: Context) -> Scores:
    opts = {"batch_size": ctx.batch_size, **ctx.options}
    result = completeness_gap(ctx.model, ctx.x, ctx.spec.method, ctx.fixed_target, method_options=ctx.spec.options, **opts)
    out = Scores(raw={"completeness": result})
    out.add("gap", result.gap)
    out.add("relative_gap", result.relative_gap)
    return out


@register_metric("continuity", options=(continuity,))
def _continuity(ctx: Context) -> Scores:
    opts = {"batch_size": ctx.batch_size, "seed": ctx.seed, **ctx.options}
    result = continuity(ctx.model, ctx.x, ctx.spec.method, ctx.fixed_target, method_options=ctx.spec.options, **opts)
    out = Scores(raw={"continuity": result})
    out.add("lipschitz", result.lipschitz)
    out.add("max_sensitivity", result.max_sensitivity)
    out.add("correlation", result.correlation)
    return out


@register_metric("runtime", options=(explanation_rate,))
def _runtime(ctx: Context) -> Scores:
    # the attribution was just computed: the model and the method are warm
    opts = {"batch_size": ctx.batch_size, "repeats": 3, "warmup": 0, **ctx.options}
    frame = explanation_rate(ctx.model, ctx.x, [ctx.spec], ctx.fixed_target, **opts)
    out = Scores(raw={"runtime": frame})
    out.add("explanations_per_second", float(frame["explanations_per_second"].iloc[0]))
    return out


register_metric("randomization", options=(model_randomization,))(_randomization("top_down"))
register_metric("randomization_independent", options=(model_randomization,))(_randomization("independent"))

#: What :func:`evaluate` runs when no metrics are named (plus localization when masks are given).
DEFAULT_METRICS = ("pixel_flipping", "randomization", "class_sensitivity", "complexity", "completeness", "runtime")


@dataclass(frozen=True)
class EvaluationResult:
    """The result of :func:`evaluate`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy scores, one row per ``method, metric, score, detail, sample``; ``sample`` is
        missing (``<NA>``) for aggregate scores (runtime, per-layer randomization means),
        ``detail`` names a layer or a subset size where it applies.
    curves : dict
        Raw results by ``(method, metric)``: for pixel-flipping a dict from order to
        :class:`~xaikit.evaluate.FlippingResult`, for randomization the
        :class:`~xaikit.evaluate.RandomizationResult`, and so on.
    attributions : dict of str to torch.Tensor
        The evaluated attributions of each method (on the CPU).
    """

    table: pd.DataFrame
    curves: dict[tuple[str, str], dict[str, Any]]
    attributions: dict[str, Tensor]

    def summary(self) -> pd.DataFrame:
        """Mean, standard deviation and count of each score per method (over samples)."""
        return (
            self.table.groupby(["metric", "score", "detail", "method"], sort=False)["value"]
            .agg(["mean", "std", "count"])
            .reset_index()
        )

    def pivot(self, detail: bool = False) -> pd.DataFrame:
        """A wide table of mean scores: one row per ``metric, score`` (and detail), one column per method."""
        table = self.table if detail else self.table[self.table["detail"] == ""]
        index = ["metric", "score", "detail"] if detail else ["metric", "score"]
        return table.pivot_table(index=index, columns="method", values="value", aggfunc="mean", sort=False)


@accepts_old_names(show_progress="progress")
def evaluate(
    model: Model,
    x: Tensor,
    y: TargetLike = None,
    methods: MethodsLike = ("lrp",),
    metrics: Sequence[str] | None = None,
    *,
    masks: Any = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> EvaluationResult:
    """Evaluate explanation methods on a model and a data set with a chosen set of metrics.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The model, in eval mode, on its device; never modified.
    x : torch.Tensor
        Inputs ``(N, d)``, ``(N, C, T)`` or ``(N, C, H, W)``.
    y : int, tensor, callable, Target or None
        What to explain, typically the labels; ``None`` for the predicted classes.
    methods : list or mapping
        The methods: names, explainers, callables, or a mapping from label to a name, an
        explainer, a callable or a ``(name, options)`` pair (see :func:`method_specs`).
    metrics : sequence of str, optional
        Names from :data:`METRICS`: ``pixel_flipping``, ``region_perturbation``,
        ``faithfulness_correlation``, ``sensitivity_n``, ``randomization``,
        ``randomization_independent``, ``class_sensitivity``, ``complexity``,
        ``localization`` (needs ``masks``), ``completeness``, ``continuity``,
        ``runtime``. Default: :data:`DEFAULT_METRICS`, plus localization with masks.
    masks : tensor or array, optional
        Ground-truth masks for localization.
    options : mapping, optional
        Options per metric, for example ``{"pixel_flipping": {"step": 4, "removal": "blur"},
        "randomization": {"similarities": ["ssim"]}}``; passed to the metric's function.
    batch_size : int, optional
        Inputs per forward pass or explanation call.
    seed : int
        Seed of every random choice (local generators only).
    progress : bool, optional
        Show a progress bar over methods and metrics.

    Returns
    -------
    EvaluationResult
        A tidy :class:`pandas.DataFrame` (``result.table``, ``result.summary()``,
        ``result.pivot()``) and the raw curves (``result.curves``).

    Examples
    --------
    >>> import torch, xaikit
    >>> from xaikit.evaluate import evaluate
    >>> model = xaikit.models.MLP(5, (8,), 3).eval()
    >>> result = evaluate(model, torch.randn(6, 5), methods=["lrp"], metrics=["complexity"])
    >>> sorted(result.table["score"].unique())
    ['entropy', 'gini', 'jpeg_bytes']
    """
    import pandas as pd

    specs = method_specs(methods)
    names = list(metrics) if metrics is not None else [*DEFAULT_METRICS, *(["localization"] if masks is not None else [])]
    entries = {name: get_metric(name) for name in names}
    all_options = dict(options or {})
    stray = [k for k in all_options if k not in names]
    if stray:
        raise ValueError(f"options given for metrics {stray} that are not run; run them or drop the options")
    checked = {
        name: check_options(f"metric {name!r}", all_options.get(name, {}), entries[name].options)
        for name in names
    }
    xs = prepare_inputs(model, x)
    frames: list[pd.DataFrame] = []
    curves: dict[tuple[str, str], dict[str, Any]] = {}
    attributions: dict[str, Tensor] = {}
    cache: dict[Any, Any] = {}
    with preserved_model_state(model):
        target = resolve_target(model, xs, y, batch_size)
        jobs = [(spec, name) for spec in specs for name in names]
        current: dict[str, Tensor] = {}
        for spec, name in progress_bar(jobs, desc="evaluate", enabled=progress):
            if spec.label not in current:
                explain = as_explain_fn(spec.method, spec.options)
                current[spec.label] = explain_batched(explain, model, xs, target, batch_size)
                attributions[spec.label] = current[spec.label].cpu()
            ctx = Context(
                model=model, x=xs, target=target, spec=spec, attribution=current[spec.label],
                masks=masks, options=checked[name], seed=seed,
                batch_size=batch_size, progress=False, cache=cache,
            )
            scores = entries[name].scores(ctx)
            curves[(spec.label, name)] = scores.raw
            frame = pd.DataFrame(scores.rows, columns=["score", "detail", "sample", "value"])
            frame.insert(0, "metric", name)
            frame.insert(0, "method", spec.label)
            frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    table["sample"] = table["sample"].astype("Int64")
    return EvaluationResult(table=table[COLUMNS], curves=curves, attributions=attributions)
