"""Testing with concept activation vectors (TCAV; Kim et al., ICML 2018).

A *concept activation vector* (CAV) at a layer is the normal of a linear classifier that
separates the layer's activations on examples of a concept from those on random examples,
pointing towards the concept. The *TCAV score* of a class is the share of its examples
whose output for that class increases along the CAV (a positive directional derivative
``grad_h f_c(x) . v``). Whether a score means anything is tested as in the paper: CAVs are
learned against several random sets, random "concepts" (one random set against another)
give the null distribution, and a two-sided t-test compares the two sets of scores.

That t-test alone is not enough: where the class's gradients at the layer all point one
way, a score is close to 0 or 1 for almost any direction, and the CAVs of one fixed set of
random examples share that set's quirks, so a random concept's scores cluster and the
t-test calls it significant (on the digits with the injected mark, for random sets of
digits at both a convolutional and a dense layer, with p down to 1e-9). :func:`tcav` therefore also asks the concept to be *learnable*: its CAVs must
classify held-out examples better than chance (a binomial test), and its p-value is the
larger of the two (an intersection-union test). The layer's activations and the class's
gradients are computed once and reused by every CAV.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xaikit.core.targets import TargetLike
from xaikit.gradients.neurons import layer_gradients
from xaikit.utils.errors import InputError


@dataclass(frozen=True)
class ConceptVector:
    """A concept activation vector.

    Attributes
    ----------
    layer : str
        The layer whose (flattened) activations it lives in.
    vector : torch.Tensor
        ``(D,)`` unit vector pointing from the random examples' side towards the concept's.
    accuracy : float
        The linear classifier's accuracy on held-out examples (0.5: no separation).
    held_out : int
        How many held-out examples the accuracy is measured on.
    """

    layer: str
    vector: Tensor
    accuracy: float
    held_out: int = 0


@dataclass(frozen=True)
class TCAVResult:
    """TCAV scores of one concept for one class, with the test against random concepts.

    Attributes
    ----------
    scores : numpy.ndarray
        ``(R,)`` the TCAV score with the CAV learned against each random set.
    random_scores : numpy.ndarray
        ``(R,)`` the scores of random concepts (random set ``i + 1`` against set ``i``).
    p_value : float
        The concept's p-value: the larger of ``score_p_value`` and ``separable_p_value``
        (an intersection-union test: significant only when both are).
    accuracies : numpy.ndarray
        ``(R,)`` held-out accuracy of each concept's CAV.
    score_p_value : float
        Kim et al.'s two-sided (Welch) t-test of ``scores`` against ``random_scores``.
    separable_p_value : float
        One-sided binomial test that the concept's CAVs classify their held-out examples
        better than chance (all CAVs pooled): a concept that cannot be told apart from
        random examples at the layer has no direction to test.
    """

    scores: np.ndarray
    random_scores: np.ndarray
    p_value: float
    accuracies: np.ndarray
    score_p_value: float = float("nan")
    separable_p_value: float = float("nan")

    @property
    def mean(self) -> float:
        """The mean TCAV score of the concept."""
        return float(self.scores.mean())

    def significant(self, level: float = 0.05) -> bool:
        """Whether the concept's scores differ from random concepts' at ``level``."""
        return bool(self.p_value < level)


def _activations(model: nn.Module, examples: Tensor, layer: str | nn.Module, batch_size: int) -> tuple[str, Tensor]:
    name, activations, _ = layer_gradients(model, examples, 0, layer=layer, batch_size=batch_size)
    return name, activations.flatten(1)


def concept_vector(
    model: nn.Module,
    layer: str | nn.Module,
    concept: Tensor,
    random: Tensor,
    *,
    seed: int = 0,
    batch_size: int = 64,
    regularization: float = 1.0,
) -> ConceptVector:
    """Learn a CAV: logistic regression between the activations of ``concept`` and ``random``.

    Parameters
    ----------
    model : torch.nn.Module
        The network (eval mode).
    layer : str or torch.nn.Module
        The layer.
    concept, random : torch.Tensor
        Examples of the concept and random counter-examples, ``(n, ...)`` each (at least 4).
    seed : int
        Seed of the held-out split and the classifier.
    batch_size : int
        Examples per forward pass.
    regularization : float
        Inverse L2 strength ``C`` of :class:`sklearn.linear_model.LogisticRegression`.
    """
    if len(concept) < 4 or len(random) < 4:
        raise InputError(f"a CAV needs at least 4 concept and 4 random examples, got {len(concept)} and {len(random)}")
    name, positive = _activations(model, concept, layer, batch_size)
    _, negative = _activations(model, random, layer, batch_size)
    return _fit_cav(name, positive, negative, seed, regularization)


def _fit_cav(name: str, positive: Tensor, negative: Tensor, seed: int, regularization: float) -> ConceptVector:
    """The CAV of two sets of flattened activations (25% of each held out for its accuracy)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    features = torch.cat([positive, negative]).double().cpu().numpy()
    labels = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    train_x, test_x, train_y, test_y = train_test_split(features, labels, test_size=0.25, random_state=seed,
                                                        stratify=labels)
    classifier = LogisticRegression(C=regularization, max_iter=2000, random_state=seed).fit(train_x, train_y)
    vector = torch.from_numpy(classifier.coef_[0].copy())
    norm = torch.linalg.vector_norm(vector)
    if not norm > 0:
        raise InputError("the concept and random activations are not separable at all (zero CAV)")
    return ConceptVector(name, vector / norm, float(classifier.score(test_x, test_y)), len(test_y))


def tcav_score(model: nn.Module, inputs: Tensor, target: TargetLike, cav: ConceptVector, *, batch_size: int = 64) -> float:
    """The share of ``inputs`` whose explained output grows along ``cav`` (positive directional derivative)."""
    _, _, gradients = layer_gradients(model, inputs, target, layer=cav.layer, batch_size=batch_size)
    return _score(gradients.flatten(1), cav)


def _score(gradients: Tensor, cav: ConceptVector) -> float:
    return float(((gradients.double().cpu() @ cav.vector.double()) > 0).double().mean())


def tcav(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike,
    *,
    layer: str | nn.Module,
    concept: Tensor,
    random_sets: Sequence[Tensor],
    seed: int = 0,
    batch_size: int = 64,
    **options: Any,
) -> TCAVResult:
    """TCAV of ``concept`` for the class ``target`` on ``inputs``, tested against random concepts.

    Parameters
    ----------
    model : torch.nn.Module
        The network (eval mode).
    inputs : torch.Tensor
        Examples of the class being explained.
    target : int
        The class.
    layer : str or torch.nn.Module
        The layer of the CAVs.
    concept : torch.Tensor
        Examples of the concept.
    random_sets : sequence of torch.Tensor
        At least 3 sets of random examples: each gives one CAV of the concept, and with
        its neighbour (set ``i + 1`` against set ``i``) one of a random concept.
    seed : int
        Seed of the CAVs' held-out splits and classifiers (run ``i`` uses ``seed + i``).
    batch_size : int
        Examples per pass.
    **options
        Passed to :func:`concept_vector` (``regularization``).

    Returns
    -------
    TCAVResult
        Deterministic given ``seed``.
    """
    from scipy import stats

    if len(random_sets) < 3:
        raise InputError(f"TCAV's test needs at least 3 random sets, got {len(random_sets)}")
    regularization = float(options.pop("regularization", 1.0))
    if options:
        raise InputError(f"unknown TCAV options {sorted(options)}; the only one is regularization")
    for examples in (concept, *random_sets):
        if len(examples) < 4:
            raise InputError(f"a CAV needs at least 4 examples per set, got a set of {len(examples)}")
    name, _, gradients = layer_gradients(model, inputs, target, layer=layer, batch_size=batch_size)
    gradients = gradients.flatten(1)  # the directional derivatives need them once, for every CAV
    _, positive = _activations(model, concept, name, batch_size)
    randoms = [_activations(model, r, name, batch_size)[1] for r in random_sets]
    scores, null, cavs, null_cavs = [], [], [], []
    for i, random in enumerate(randoms):
        cav = _fit_cav(name, positive, random, seed + i, regularization)
        # a random concept: the next random set against this one
        random_cav = _fit_cav(name, randoms[(i + 1) % len(randoms)], random, seed + i, regularization)
        scores.append(_score(gradients, cav))
        null.append(_score(gradients, random_cav))
        cavs.append(cav)
        null_cavs.append(random_cav)
    concept_scores, random_scores = np.array(scores), np.array(null)
    if np.ptp(concept_scores) == 0 and np.ptp(random_scores) == 0:
        score_p = 1.0 if concept_scores[0] == random_scores[0] else 0.0
    else:
        with warnings.catch_warnings():  # one group may be constant (all scores 1): the test still holds
            warnings.simplefilter("ignore", RuntimeWarning)
            score_p = float(stats.ttest_ind(concept_scores, random_scores, equal_var=False).pvalue)
    correct = sum(round(c.accuracy * c.held_out) for c in cavs)
    held_out = sum(c.held_out for c in cavs)
    separable_p = float(stats.binomtest(correct, held_out, 0.5, alternative="greater").pvalue)
    return TCAVResult(concept_scores, random_scores, max(score_p, separable_p), np.array([c.accuracy for c in cavs]),
                      score_p, separable_p)
