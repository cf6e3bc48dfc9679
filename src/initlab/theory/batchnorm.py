"""Mean-field batch recursion of a ReLU ResNet whose branches use BatchNorm with BATCH statistics.

The network (initlab's ``resnet_bn``, two weight layers per branch, no post-activation)::

    x_0 = W0 x,   x_{l+1} = x_l + W2 relu(BN(W1 BN(x_l)))  (BN before each weight layer)

with weights of variance ``gain / fan_in`` and zero biases; BN normalizes every unit over the B
examples of the batch (biased variance; gamma 1, beta 0). At infinite width the units of x_l are
independent, each a Gaussian vector over the batch with covariance G_l (B x B), as in the batch
mean-field theory of Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz (ICLR 2019). BatchNorm
of one unit z ~ N(0, G) is ``bn(z) = sqrt(B) P z / |P z|`` (P centres over the batch), which
depends on G only through P G P, so::

    Z_l = E[bn(z) bn(z)^T],  z ~ N(0, G_l)           (the branch input's Gram)
    V_l = E[bn(r) bn(r)^T],  r = relu(u), u ~ N(0, gain1 Z_l)
    G_{l+1} = G_l + gain2 V_l                         (W2 has zero mean: no cross term)

No closed form is known for these B-dimensional expectations; :func:`bn_resnet_grams` computes
them by Monte Carlo over ``samples`` Gaussian draws per block (fixed ``seed``: a deterministic
curve whose Monte-Carlo error per block is about 1 / sqrt(samples) per Gram entry, and averages
out over blocks since G_l sums them). The cosine of examples i, j at block l is
G_l[i, j] / sqrt(G_l[i, i] G_l[j, j]). Pure numpy.

The branch output's Gram V has zero row sums (each unit is centred over the batch), so the sum
of branch outputs pulls the average cosine between the examples of a batch towards
-1 / (B - 1): two inputs' angle is not driven to 0 but to a fixed point set by the batch.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _psd_sqrt(gram: np.ndarray) -> np.ndarray:
    """A matrix S with S S^T = gram (symmetric square root; clips tiny negative eigenvalues)."""
    values, vectors = np.linalg.eigh((gram + gram.T) / 2.0)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def batch_norm_units(z: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """BatchNorm of many units at once: rows of ``z`` (units, B) centred and scaled over B."""
    centred = z - z.mean(axis=1, keepdims=True)
    var = (centred**2).mean(axis=1, keepdims=True)
    return centred / np.sqrt(var + eps)


def bn_gram(gram: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """E[bn(z) bn(z)^T] for z ~ N(0, gram) by ``samples`` Monte-Carlo draws."""
    z = rng.standard_normal((samples, gram.shape[0])) @ _psd_sqrt(gram).T
    n = batch_norm_units(z)
    return n.T @ n / samples


def bn_relu_bn_gram(
    gram: np.ndarray, samples: int, rng: np.random.Generator, gain1: float = 2.0
) -> np.ndarray:
    """V: E[bn(r) bn(r)^T], r = relu(u), u ~ N(0, gain1 Z), Z the Gram of bn(z), z ~ N(0, gram)."""
    inner = gain1 * bn_gram(gram, samples, rng)
    u = rng.standard_normal((samples, gram.shape[0])) @ _psd_sqrt(inner).T
    n = batch_norm_units(np.maximum(u, 0.0))
    return n.T @ n / samples


def bn_resnet_grams(
    x: ArrayLike,
    depth: int,
    *,
    stem_gain: float = 2.0,
    gain1: float = 2.0,
    gain2: float = 2.0,
    samples: int = 20_000,
    seed: int = 0,
) -> np.ndarray:
    """G_0..G_depth, shape (depth + 1, B, B): the per-unit Gram of the residual stream of the
    batch ``x`` (B rows of flattened inputs), G_0 = stem_gain x x^T / dim."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    gram = stem_gain * x @ x.T / x.shape[1]
    rng = np.random.default_rng(seed)
    grams = [gram]
    for _ in range(depth):
        gram = gram + gain2 * bn_relu_bn_gram(gram, samples, rng, gain1)
        grams.append(gram)
    return np.stack(grams)


def gram_cosines(grams: np.ndarray, pairs: ArrayLike) -> np.ndarray:
    """(layers, P): the cosines of the row pairs ``pairs`` (P, 2) in each Gram of ``grams``."""
    pairs = np.asarray(pairs, dtype=int)
    i, j = pairs[:, 0], pairs[:, 1]
    diag = np.diagonal(grams, axis1=1, axis2=2)
    cos = grams[:, i, j] / np.sqrt(diag[:, i] * diag[:, j])
    return np.clip(cos, -1.0, 1.0)
