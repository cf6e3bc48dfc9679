"""Fisher-vector products against explicit dense matrices built example by example."""

import torch
from torch import nn
from torch.func import functional_call, jacrev

from initlab.analysis.fisher import empirical_fisher, gauss_fisher, true_fisher
from initlab.analysis.hvp import flatten, trainable_params, unflatten
from initlab.analysis.lanczos import lanczos

F64 = torch.float64
N, D, C = 12, 4, 3


def setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 5), nn.Tanh(), nn.Linear(5, C)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, D, generator=g, dtype=F64)
    y = torch.randint(C, (N,), generator=g)
    return model, x, y


def logits_fn(model):
    params = trainable_params(model)
    names = [n for n, _ in model.named_parameters()]

    def f(theta, xi):
        return functional_call(model, dict(zip(names, unflatten(theta, params))), (xi[None],))[0]

    return f, flatten(params).detach()


def dense_true_fisher(model, x):
    f, theta = logits_fn(model)
    total = 0
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda t, xi=xi: f(t, xi), theta)  # C x n
        p = torch.softmax(f(theta, xi).detach(), dim=0)
        total = total + jac.T @ (torch.diag(p) - torch.outer(p, p)) @ jac
    return total / x.shape[0]


def per_example_grad(model, xi, label):
    f, theta = logits_fn(model)
    theta = theta.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(f(theta, xi)[None], torch.tensor([label]))
    (g,) = torch.autograd.grad(loss, theta)
    return g


def random_vectors(n, k=4):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(5), dtype=F64)


def test_true_fisher_matvec_equals_dense_ggn():
    model, x, y = setup()
    op = true_fisher(model, [(x[:5], y[:5]), (x[5:], y[5:])])
    dense = dense_true_fisher(model, x)
    vs = random_vectors(op.n)
    for j in range(vs.shape[1]):
        assert torch.allclose(op(vs[:, j]), dense @ vs[:, j], rtol=0, atol=1e-12)
    # the GGN is the exact label expectation E_{y~p}[g g^T] of the true Fisher
    expect = 0
    for xi in x:
        p = torch.softmax(model(xi[None])[0], dim=0).detach()
        for c in range(C):
            g = per_example_grad(model, xi, c)
            expect = expect + p[c] * torch.outer(g, g)
    assert torch.allclose(dense, expect / N, rtol=0, atol=1e-12)


def test_empirical_fisher_matvec_equals_mean_outer_product():
    model, x, y = setup()
    op = empirical_fisher(model, [(x[:7], y[:7]), (x[7:], y[7:])])
    grads = torch.stack([per_example_grad(model, xi, int(yi)) for xi, yi in zip(x, y)])
    dense = grads.T @ grads / N
    vs = random_vectors(op.n)
    for j in range(vs.shape[1]):
        assert torch.allclose(op(vs[:, j]), dense @ vs[:, j], rtol=0, atol=1e-12)
    assert not torch.allclose(dense, dense_true_fisher(model, x), atol=1e-3)  # they differ


def test_fisher_chunking_and_lanczos_top_eigenvalue():
    model, x, y = setup()
    v = random_vectors(sum(p.numel() for p in model.parameters()))[:, 0]
    for make in (true_fisher, empirical_fisher):
        one = make(model, [(x, y)])(v)
        for size in (1, 5):
            chunked = make(model, [(x[i : i + size], y[i : i + size]) for i in range(0, N, size)])
            assert (chunked(v) - one).norm() <= 1e-12 * one.norm()
    op = true_fisher(model, [(x, y)])
    eig = torch.linalg.eigvalsh(dense_true_fisher(model, x))
    res = lanczos(op, op.n, k=1, tol=1e-10, max_iter=op.n)
    assert torch.allclose(res.top, eig[-1:], rtol=1e-8)
    assert res.bottom[0] > -1e-10 * eig[-1]  # positive semi-definite


def test_gauss_fisher_matvec_equals_dense_jtj_of_the_logits():
    """J^T J / N with J the (N*C) x n Jacobian of every logit (torch.func.jacrev, float64)."""
    model, x, y = setup()
    op = gauss_fisher(model, [(x[:4], y[:4]), (x[4:], y[4:])])
    params = dict(model.named_parameters())
    names = list(params)

    def logits(*theta):
        return functional_call(model, dict(zip(names, theta)), (x,)).reshape(-1)

    jac = jacrev(logits, argnums=tuple(range(len(names))))(*params.values())
    j = torch.cat([part.reshape(N * C, -1) for part in jac], dim=1)  # columns in flatten's order
    dense = j.T @ j / N
    vs = random_vectors(op.n)
    for k in range(vs.shape[1]):
        assert torch.allclose(op(vs[:, k]), dense @ vs[:, k], rtol=0, atol=1e-12)
    # labels play no part; the true Fisher is J^T (diag p - p p^T) J <= J^T J / 2 in Loewner order
    # (the softmax covariance's eigenvalues are below 1/2), so its top eigenvalue is smaller
    other = (y + 1) % C
    relabelled = gauss_fisher(model, [(x[:4], other[:4]), (x[4:], other[4:])])
    assert torch.equal(op(vs[:, 0]), relabelled(vs[:, 0]))
    top = torch.linalg.eigvalsh(dense)[-1]
    assert torch.linalg.eigvalsh(dense_true_fisher(model, x))[-1] <= top / 2 + 1e-12
