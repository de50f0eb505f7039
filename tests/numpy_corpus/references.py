"""For each program of the numpy corpus: its input values, its output and an independent PyTorch float64 version.

Each reference is written from the model's mathematics, with PyTorch's own building blocks where it has
them (torch.distributions, F.layer_norm, nn.GRUCell, F.scaled_dot_product_attention, ...), never by
transcribing the .ad file, so that the two computations share nothing but the formula. The test feeds
the same values to both and compares the value and torch.autograd's gradients with adcli's.

A value is a float (a scalar), a nested list of floats (an array), or a list of Python ints (an
`int[...]` input). Inputs the program declares with `data`, and integer inputs, are listed in `data`:
neither side differentiates them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions import (
    Beta,
    Dirichlet,
    Gamma,
    MultivariateNormal,
    NegativeBinomial,
    Normal,
    Poisson,
    kl_divergence,
)


class Case(NamedTuple):
    """One program's inputs, the output to differentiate, its reference and the inputs not differentiated."""

    inputs: dict
    output: str
    reference: Callable
    data: tuple
    rtol: float | None = None  # where PyTorch itself is less exact than 1e-10 (and why, at the case)


CASES: dict[str, Case] = {}


def case(output: str, data: tuple = (), rtol: float | None = None, **inputs):
    """Register the decorated reference under its own name, which is the program's file name."""
    def register(fn):
        CASES[fn.__name__] = Case(inputs, output, fn, tuple(data), rtol)
        return fn
    return register


def rk4_step(f, y, h):
    """One classical Runge-Kutta step of y' = f(y)."""
    k1 = f(y)
    k2 = f(y + h / 2 * k1)
    k3 = f(y + h / 2 * k2)
    k4 = f(y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def f64(value):
    return torch.as_tensor(value, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# Regression and classification
# ---------------------------------------------------------------------------------------------

@case("loss", data=("X", "y"),
      # a zero row, and a third feature a hundred times larger than the others
      X=[[0.5, -1.2, 30.0], [0.0, 0.0, 0.0], [-2.0, 0.3, -15.0], [1.5, 2.2, 4.0], [-0.7, -0.1, 60.0]],
      y=[1.0, 0.0, 0.0, 1.0, 1.0], w=[0.4, -0.3, 0.02], b=-0.1)
def logistic_regression(X, y, w, b):
    """Mean log-loss of sigmoid(Xw + b) (the clip never binds here) plus (0.01/2)|w|^2."""
    return F.binary_cross_entropy_with_logits(X @ w + b, y) + 0.005 * torch.dot(w, w)


@case("loss", data=("X", "Y"),
      X=[[[0.2, -1.0], [0.5, 1.5]], [[-0.3, 0.0], [2.0, -0.8]], [[1.1, 0.4], [-1.6, 0.9]]],
      Y=[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
      W=[[0.3, -0.2, 0.5], [-0.7, 0.1, 0.2], [0.05, 0.9, -0.4], [0.6, -0.5, 0.25]], b=[0.1, -0.2, 0.05])
def softmax_regression(X, Y, W, b):
    """Cross-entropy of softmax(flatten(X) W + b) against the one-hot rows of Y, averaged."""
    return F.cross_entropy(X.flatten(1) @ W + b, Y)


@case("loss", data=("x", "y", "u"),
      x=[[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.4, 0.8, 0.1], [2.2, -1.3, 0.6]],
      y=[[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4], [0.0, 2.0]],
      u=[[0.1, 0.9, 0.5, 0.3, 0.8], [0.6, 0.2, 0.95, 0.4, 0.05],
         [0.7, 0.35, 0.15, 0.85, 0.55], [0.25, 0.65, 0.45, 0.76, 0.02]],
      w1=[[0.3, -0.6, 0.8, 0.1, -0.2], [0.5, 0.4, -0.3, 0.7, 0.9], [-0.1, 0.2, 0.6, -0.5, 0.3]],
      w2=[[0.4, -0.3], [0.2, 0.5], [-0.6, 0.1], [0.7, 0.8], [-0.2, -0.4]])
def mlp_two_layer(x, y, u, w1, w2):
    """Squared error of relu(x w1) with inverted dropout (keep 0.75) through w2, plus 1e-3 |params|^2."""
    keep = (u < 0.75).to(torch.float64) / 0.75
    pred = (torch.relu(x @ w1) * keep) @ w2
    return ((pred - y) ** 2).sum() + 1e-3 * (w1.pow(2).sum() + w2.pow(2).sum())


@case("nll", data=("X", "y"),
      X=[[1.0, 0.2, -1.0], [1.0, -0.5, 0.3], [1.0, 1.2, 2.0], [1.0, 0.0, 0.0], [1.0, 2.5, 1.1]],
      y=[1.0, 0.0, 9.0, 2.0, 40.0], beta=[0.5, 0.8, 0.3])
def poisson_regression(X, y, beta):
    """-sum log Poisson(y | exp(X beta))."""
    return -Poisson(torch.exp(X @ beta)).log_prob(y).sum()


@case("loss", data=("X", "y"),
      X=[[1.0, 0.2, -1.0], [1.0, -0.5, 0.3], [1.0, 1.2, 2.0], [1.0, 0.0, 0.0], [1.0, 2.5, 1.1]],
      y=[1.0, 0.0, 9.0, 2.0, 40.0], beta=[0.5, 0.8, 0.3], log_alpha=-0.7)
def negative_binomial(X, y, beta, log_alpha):
    """-sum log NB(y | size r = 1/alpha, mean mu = exp(X beta)): success probability mu/(r + mu)."""
    mu = torch.exp(X @ beta)
    r = torch.exp(-log_alpha)
    return -NegativeBinomial(total_count=r, logits=torch.log(mu) - torch.log(r)).log_prob(y).sum()


@case("val_mse", data=("y", "X_val", "y_val"),
      X=[[1.0, 0.5, -0.2], [0.3, -1.1, 0.8], [-0.6, 0.9, 1.5], [2.0, 0.1, -0.7], [0.0, -0.4, 0.3]],
      y=[1.2, -0.7, 0.9, 2.1, -0.1], X_val=[[0.4, 0.2, -0.5], [-1.0, 0.7, 0.6], [1.5, -0.3, 0.0]],
      y_val=[0.5, -0.2, 1.4], log_lam=-1.2)
def ridge_regression(X, y, X_val, y_val, log_lam):
    """Ridge as least squares on X stacked over sqrt(lambda) I (solved by QR), scored on the validation set."""
    d = X.shape[1]
    A = torch.cat([X, torch.exp(0.5 * log_lam) * torch.eye(d, dtype=torch.float64)])
    target = torch.cat([y, torch.zeros(d, dtype=torch.float64)])
    Q, R = torch.linalg.qr(A)
    w = torch.linalg.solve_triangular(R, (Q.T @ target)[:, None], upper=True)[:, 0]
    return ((X_val @ w - y_val) ** 2).mean()


@case("loss", data=("X", "y"),
      # an exact zero residual (abs at its kink), small ones and one far outside delta
      X=[[1.0, 0.5], [0.0, 0.0], [-1.5, 2.0], [3.0, -0.2], [0.7, 0.7]],
      y=[0.9, 0.0, 12.0, 1.3, -0.4], w=[0.8, 0.6], delta=1.5)
def huber_optax(X, y, w, delta):
    """Mean Huber loss: e^2/2 where |e| <= delta, delta(|e| - delta/2) beyond."""
    e = X @ w - y
    return torch.where(e.abs() <= delta, 0.5 * e ** 2, delta * (e.abs() - 0.5 * delta)).mean()


@case("loss", data=("images", "targets"),
      images=[[0.0, 0.5, 1.0, 0.25], [0.9, 0.1, 0.0, 0.6], [0.3, 0.8, 0.4, 0.0]],
      targets=[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
      w1=[[0.2, -0.5, 0.7, 0.1], [-0.3, 0.8, 0.2, -0.6], [0.5, 0.3, -0.4, 0.9]], b1=[0.05, -0.1, 0.2],
      w2=[[0.6, -0.2, 0.4], [-0.7, 0.5, 0.1], [0.3, 0.9, -0.8]], b2=[0.0, 0.1, -0.1])
def jax_mnist_xent(images, targets, w1, b1, w2, b2):
    """-mean over every entry of log_softmax(relu(images w1' + b1) w2' + b2) times the one-hot targets."""
    logits = torch.relu(images @ w1.T + b1) @ w2.T + b2
    return -(F.log_softmax(logits, dim=1) * targets).mean()


@case("loss", data=("X", "labels"),
      # the last row drives the logits to about 100: log_softmax must not overflow
      X=[[0.5, -1.0, 0.2], [1.5, 0.3, -0.7], [-0.2, 0.9, 1.1], [40.0, -25.0, 10.0]],
      labels=[2, 0, 1, 1], W=[[0.3, -0.4, 0.8], [0.6, 0.2, -0.5], [-0.1, 0.7, 0.4]], b=[0.1, 0.0, -0.2])
def xent_int_labels(X, labels, W, b):
    """PyTorch's cross-entropy of the logits against the integer labels, averaged."""
    return F.cross_entropy(X @ W + b, labels)


@case("loss", data=("X", "labels"),
      X=[[0.5, -1.0, 0.2], [1.5, 0.3, -0.7], [-0.2, 0.9, 1.1], [0.0, 0.0, 2.0]],
      labels=[2, 0, 1, 1], W=[[0.3, -0.4, 0.8], [0.6, 0.2, -0.5], [-0.1, 0.7, 0.4]])
def structured_perceptron(X, labels, W):
    """Sum over rows of the best class's score minus the true class's score."""
    scores = X @ W
    return (scores.max(dim=1).values - scores.gather(1, labels[:, None])[:, 0]).sum()


@case("loss", data=("X", "labels"),
      # logits of about +-750 and a soft label: the naive formula would give inf
      X=[[1.0, 0.5], [-0.3, 2.0], [300.0, -150.0], [-300.0, 150.0], [0.0, 0.1]],
      labels=[1.0, 0.0, 0.0, 1.0, 0.3], w=[2.0, -1.0])
def bce_log_sigmoid(X, labels, w):
    """PyTorch's binary cross-entropy with logits, averaged."""
    return F.binary_cross_entropy_with_logits(X @ w, labels)


@case("loss", data=("X", "events"),
      # rows sorted by decreasing duration; one row's log-hazard near 30, others near -5
      X=[[0.5, -1.0], [1.2, 0.3], [-2.0, -1.5], [6.0, 2.0], [0.1, 0.0]],
      events=[1.0, 0.0, 1.0, 1.0, 0.0], beta=[4.5, 1.5])
def cox_partial_likelihood(X, events, beta):
    """-sum over events of (log h_i - log sum_{j <= i} h_j), over the number of events."""
    log_h = X @ beta
    log_risk = torch.stack([torch.logsumexp(log_h[:i + 1], dim=0) for i in range(len(log_h))])
    return -((log_h - log_risk) * events).sum() / events.sum()


# ---------------------------------------------------------------------------------------------
# Neural network layers
# ---------------------------------------------------------------------------------------------

@case("loss", data=("target",),
      # a constant row (variance 0: only eps keeps it finite) and a row spanning six orders of magnitude
      x=[[0.3, -1.2, 2.5, 0.7], [2.0, 2.0, 2.0, 2.0], [1e3, -1e-3, 5e2, 1e-2]],
      gamma=[1.0, 0.5, -0.8, 2.0], beta=[0.0, 0.1, -0.3, 0.2],
      target=[[0.1, -0.5, 1.0, 0.3], [0.0, 0.2, -0.1, 0.4], [1.0, -1.0, 0.5, 0.0]])
def layer_norm(x, gamma, beta, target):
    """PyTorch's layer_norm over the last axis (eps 1e-5), then the mean squared error."""
    return F.mse_loss(F.layer_norm(x, (x.shape[-1],), gamma, beta, eps=1e-5), target)


@case("loss", data=("w_out",),
      # the last feature is a thousand times smaller: its variance is below eps
      x=[[0.5, -1.0, 2e-3], [1.5, 0.3, -1e-3], [-0.4, 0.8, 4e-3], [2.2, -1.3, 0.0]],
      gamma=[1.2, -0.7, 0.9], beta=[0.1, 0.0, -0.2], w_out=[0.5, -1.0, 2.0])
def batch_norm(x, gamma, beta, w_out):
    """PyTorch's batch_norm in training mode (batch statistics, eps 1e-5), then sum(tanh(.) w_out)."""
    out = F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    return (torch.tanh(out) @ w_out).sum()


@case("loss", data=("x",),
      x=[[0.5, -1.0, 0.2], [1.5, 0.3, -0.7], [-0.4, 0.8, 1.1], [0.9, -0.6, 0.0]],
      Wq=[[0.3, -0.5], [0.8, 0.1], [-0.2, 0.6]], Wk=[[0.7, 0.2], [-0.4, 0.9], [0.5, -0.3]],
      Wv=[[0.1, 0.4], [0.6, -0.8], [-0.9, 0.2]])
def attention_causal(x, Wq, Wk, Wv):
    """PyTorch's causal scaled_dot_product_attention, then the sum of squares."""
    out = F.scaled_dot_product_attention(x @ Wq, x @ Wk, x @ Wv, is_causal=True)
    return (out ** 2).sum()


@case("loss", data=("x",),
      x=[[0.5, -1.0, 0.2, 0.8], [1.5, 0.3, -0.7, 0.1], [-0.4, 0.8, 1.1, -0.9]],
      Wq=[[0.3, -0.5, 0.8, 0.1], [0.1, 0.4, 0.6, -0.8], [-0.6, 0.3, 0.2, 0.7], [0.9, -0.4, -0.3, 0.2]],
      Wk=[[-0.2, 0.6, 0.7, 0.2], [-0.9, 0.2, 0.35, -0.15], [0.4, -0.1, 0.8, 0.5], [0.6, 0.5, -0.7, 0.1]],
      Wv=[[-0.4, 0.9, 0.5, -0.3], [0.45, 0.05, -0.65, 0.25], [-0.2, 0.3, 0.1, 0.6], [0.3, -0.5, 0.2, 0.4]],
      W_proj=[[0.5, -0.2, 0.3, 0.1], [0.4, 0.6, -0.5, 0.2], [-0.3, 0.1, 0.7, -0.6], [0.2, -0.8, 0.1, 0.9]])
def multihead_attention(x, Wq, Wk, Wv, W_proj):
    """Two heads of size 2 taken from consecutive columns of q, k and v, attention without a mask."""
    T, C = x.shape
    heads = [(x @ W).view(T, 2, C // 2).transpose(0, 1) for W in (Wq, Wk, Wv)]
    y = F.scaled_dot_product_attention(*heads).transpose(0, 1).reshape(T, C)
    return torch.tanh(y @ W_proj).sum()


@case("loss", data=("xs",),
      xs=[[0.5, -1.0], [1.5, 0.3], [-0.4, 0.8]],
      W_r=[[0.3, -0.5], [0.8, 0.1], [-0.2, 0.6]], W_z=[[0.7, 0.2], [-0.4, 0.9], [0.5, -0.3]],
      W_n=[[0.1, 0.4], [0.6, -0.8], [-0.9, 0.2]],
      U_r=[[0.2, -0.1, 0.4], [0.3, 0.5, -0.2], [-0.6, 0.1, 0.3]],
      U_z=[[0.1, 0.3, -0.5], [-0.2, 0.4, 0.6], [0.7, -0.3, 0.2]],
      U_n=[[0.5, -0.4, 0.1], [0.2, 0.3, -0.7], [-0.1, 0.6, 0.4]],
      b_r=[0.1, -0.2, 0.0], b_z=[0.3, 0.1, -0.1], b_n=[-0.2, 0.05, 0.15])
def gru_cell(xs, W_r, W_z, W_n, U_r, U_z, U_n, b_r, b_z, b_n):
    """PyTorch's nn.GRUCell (gates r, z, n; no hidden-side bias) from h = 0, then |h|^2."""
    hid = W_r.shape[0]
    cell = torch.nn.GRUCell(xs.shape[1], hid, dtype=torch.float64)
    params = {"weight_ih": torch.cat([W_r, W_z, W_n]), "weight_hh": torch.cat([U_r, U_z, U_n]),
              "bias_ih": torch.cat([b_r, b_z, b_n]), "bias_hh": torch.zeros(3 * hid, dtype=torch.float64)}
    h = torch.zeros(hid, dtype=torch.float64)
    for x in xs:
        h = torch.func.functional_call(cell, params, (x, h))
    return (h ** 2).sum()


@case("loss", data=("xs",),
      xs=[[0.5, -1.0], [1.5, 0.3], [-0.4, 0.8]],
      W=[[[0.3, -0.5], [0.8, 0.1]], [[-0.2, 0.6], [0.7, 0.2]], [[-0.4, 0.9], [0.5, -0.3]], [[0.1, 0.4], [0.6, -0.8]]],
      U=[[[-0.9, 0.2], [0.35, -0.15]], [[0.45, 0.05], [-0.65, 0.25]], [[0.2, -0.1], [0.4, 0.3]],
         [[0.5, -0.2], [-0.6, 0.1]]],
      b=[[0.1, -0.2], [0.5, 0.0], [0.3, 0.1], [-0.1, 0.2]], h0=[0.1, -0.3], c0=[0.5, -0.2])
def lstm_cell(xs, W, U, b, h0, c0):
    """PyTorch's nn.LSTMCell over three steps, then |h|^2 + 0.1 sum(c); the program stacks gates i, f, o, g,
    PyTorch's rows are i, f, g, o."""
    hd = h0.shape[0]
    order = lambda M: torch.cat([M[0], M[1], M[3], M[2]])
    cell = torch.nn.LSTMCell(xs.shape[1], hd, dtype=torch.float64)
    params = {"weight_ih": order(W), "weight_hh": order(U), "bias_ih": order(b),
              "bias_hh": torch.zeros(4 * hd, dtype=torch.float64)}
    h, c = h0, c0
    for x in xs:
        h, c = torch.func.functional_call(cell, params, (x, (h, c)))
    return (h ** 2).sum() + 0.1 * c.sum()


@case("loss", data=("xs", "targets"),
      xs=[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]], targets=[2, 1, 3],
      Wxh=[[0.3, -0.5, 0.8, 0.1], [-0.2, 0.6, 0.7, 0.2], [-0.4, 0.9, 0.5, -0.3]],
      Whh=[[0.2, -0.1, 0.4], [0.3, 0.5, -0.2], [-0.6, 0.1, 0.3]],
      Why=[[0.1, 0.3, -0.5], [-0.2, 0.4, 0.6], [0.7, -0.3, 0.2], [0.5, -0.4, 0.1]],
      bh=[0.0, 0.1, -0.1], by=[0.2, -0.1, 0.0, 0.05], hprev=[0.3, -0.2, 0.1])
def min_char_rnn(xs, targets, Wxh, Whh, Why, bh, by, hprev):
    """Summed cross-entropy of each step's logits Why h + by against the next character."""
    h, logits = hprev, []
    for x in xs:
        h = torch.tanh(Wxh @ x + Whh @ h + bh)
        logits.append(Why @ h + by)
    return F.cross_entropy(torch.stack(logits), targets, reduction="sum")


@case("loss", data=("target",),
      # zeros and a value a hundred times the rest; one output lands below 0 (the ReLU cuts it)
      x=[0.0, 1.5, -2.0, 100.0, 0.0, 0.5], w=[0.2, -0.5, 0.1], b=0.3, target=[1.0, -0.5, 0.2, 2.0])
def conv1d_slicing(x, w, b, target):
    """PyTorch's conv1d (a cross-correlation, 'valid'), plus b, ReLU, squared error."""
    y = torch.relu(F.conv1d(x.view(1, 1, -1), w.view(1, 1, -1)).view(-1) + b)
    return ((y - target) ** 2).sum()


@case("loss", data=("x", "eps"),
      x=[0.0, 1.0, 0.35, 0.9], eps=[0.6, -1.3],          # binary pixels 0 and 1 are valid targets
      W_enc=[[0.3, -0.5, 0.8, 0.1], [-0.2, 0.6, 0.7, 0.2], [-0.4, 0.9, 0.5, -0.3], [0.1, 0.4, -0.6, 0.2]],
      b_enc=[0.1, -0.1, 0.0, 0.2],
      W_dec=[[0.5, -0.4, 0.3, 0.2], [-0.7, 0.1, 0.6, -0.3]], b_dec=[0.0, 0.2, -0.1, 0.1])
def vae_loss(x, eps, W_enc, b_enc, W_dec, b_dec):
    """Summed BCE of the decoded sample plus KL(N(mu, sigma^2) || N(0, 1)), mu and log sigma^2 from the encoder."""
    mu, logvar = (x @ W_enc + b_enc).chunk(2)
    z = mu + eps * torch.exp(0.5 * logvar)
    bce = F.binary_cross_entropy(torch.sigmoid(z @ W_dec + b_dec), x, reduction="sum")
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum()
    return bce + kl


@case("loss", z_e=[[0.5, -1.0], [1.5, 0.3], [-0.4, 0.8], [2.0, 2.0]],
      codebook=[[0.0, 0.0], [1.0, 0.5], [-1.0, 1.0]])
def vq_codebook(z_e, codebook):
    """1.25 times the mean squared distance from each encoding to its nearest code."""
    with torch.no_grad():
        idx = torch.cdist(z_e, codebook).argmin(dim=1)
    return 1.25 * F.mse_loss(codebook[idx], z_e)


# ---------------------------------------------------------------------------------------------
# Probability densities and Gaussian processes
# ---------------------------------------------------------------------------------------------

@case("nlml", data=("x", "y"),
      # two inputs only 0.1 apart: a nearly singular kernel that the noise keeps positive definite
      x=[-2.0, -0.5, 0.0, 0.1, 3.0], y=[0.6, -0.4, 0.2, 0.25, -1.3],
      log_ell=-0.2, log_sf=0.1, log_sn=-1.5)
def gp_nlml_cholesky(x, y, log_ell, log_sf, log_sn):
    """-log N(y | 0, sf^2 exp(-(x - x')^2 / (2 ell^2)) + sn^2 I)."""
    K = torch.exp(2 * log_sf) * torch.exp(-(x[:, None] - x[None, :]) ** 2 / (2 * torch.exp(2 * log_ell)))
    K = K + torch.exp(2 * log_sn) * torch.eye(len(x), dtype=torch.float64)
    return -MultivariateNormal(torch.zeros_like(y), covariance_matrix=K).log_prob(y)


@case("nlml", data=("x", "Y", "noise"),
      x=[0.0, 0.7, 2.0], Y=[[0.3, -0.2, 1.1], [0.5, 0.1, 0.9]],
      L_task=[[1.0, 0.0], [0.8, 0.4]], log_ell=0.2, noise=0.05)
def multitask_gp_kron(x, Y, L_task, log_ell, noise):
    """-log N(vec(Y) | 0, kron(B, Kx) + noise I) with B = L L' + 0.01 I, the rows of Y stacked."""
    B = L_task @ L_task.T + 1e-2 * torch.eye(2, dtype=torch.float64)
    Kx = torch.exp(-(x[:, None] - x[None, :]) ** 2 / (2 * torch.exp(2 * log_ell)))
    K = torch.kron(B, Kx) + noise * torch.eye(Y.numel(), dtype=torch.float64)
    y = Y.reshape(-1)
    return -MultivariateNormal(torch.zeros_like(y), covariance_matrix=K).log_prob(y)


@case("log_prob", data=("x", "y", "yerr"),
      x=[0.4, 2.1, 5.0, 7.7, 9.6], y=[3.8, 2.5, -0.6, -2.4, -5.3], yerr=[0.1, 0.5, 0.3, 0.9, 0.2],
      m=-0.9, b=4.0, log_f=-0.6)
def emcee_line(x, y, yerr, m, b, log_f):
    """sum log N(y | m x + b, yerr^2 + f^2 (m x + b)^2) without the 2 pi constant; the prior is 0 inside its box."""
    model = m * x + b
    scale = torch.sqrt(yerr ** 2 + torch.exp(2 * log_f) * model ** 2)
    return Normal(model, scale).log_prob(y).sum() + 0.5 * len(x) * math.log(2 * math.pi)


@case("nll", data=("x",), x=[1e-8, 0.02, 0.5, 0.93, 1 - 1e-6], a=0.7, b=2.5)   # data at both edges
def beta_logpdf(x, a, b):
    """-sum log Beta(x | a, b)."""
    return -Beta(a, b).log_prob(x).sum()


@case("total", data=("x",), x=[0.003, 0.5, 1.0, 2.7, 150.0], a=1.8, rate=0.35)
def gamma_logpdf(x, a, rate):
    """sum log Gamma(x | shape a, rate)."""
    return Gamma(a, rate).log_prob(x).sum()


# PyTorch's trigamma (polygamma(1, ·)) is exact to about 1e-10 here: its gradient for alpha[1] is
# -2.5221136488893663 where mpmath at 40 digits gives -2.5221136480992543, adcli's value to the last digit
# (digamma and trigamma are checked against mpmath in tests/derivative_facts.py).
@case("kl", rtol=1e-9, alpha=[0.05, 1.0, 7.5, 40.0], beta=[0.5, 2.0, 3.0, 0.9])  # concentrations 0.05 to 40
def dirichlet_kl(alpha, beta):
    """KL(Dir(alpha) || Dir(beta)) from torch.distributions' registry."""
    return kl_divergence(Dirichlet(alpha), Dirichlet(beta))


@case("nll", data=("X",),
      X=[[0.5, -1.0, 0.2], [1.5, 0.3, -0.7], [-0.4, 0.8, 1.1], [0.0, 0.0, 0.0]],
      mu=[0.1, -0.2, 0.3], A=[[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.2, 0.6]])
def mvn_logpdf(X, mu, A):
    """-sum log N(X_i | mu, A A' + 0.1 I)."""
    Sigma = A @ A.T + 0.1 * torch.eye(3, dtype=torch.float64)
    return -MultivariateNormal(mu, covariance_matrix=Sigma).log_prob(X).sum()


@case("cost", data=("X", "beta"),
      X=[[0.0, 0.0], [0.2, -0.1], [3.0, 3.0], [2.5, 3.4], [-2.0, 1.0]],
      means=[[0.1, 0.0], [2.8, 3.1], [-1.5, 0.5]], beta=2.0)
def soft_kmeans(X, means, beta):
    """Mean over points of the softmax(-beta d^2)-weighted squared distances to the means."""
    d2 = ((X[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    return (torch.softmax(-beta * d2, dim=1) * d2).sum() / X.shape[0]


@case("loss", data=("X",),
      X=[[2.0, 0.5, -1.0], [1.5, 0.3, -0.7], [-0.4, 0.8, 1.1], [0.0, -1.2, 0.4], [3.0, 1.0, -2.0]],
      W=[[0.7, 0.1], [0.2, 0.9], [-0.6, 0.3]])
def pca_reconstruction(X, W):
    """|Xc - Xc W W'|_F^2 / n (Xc centred) plus |W'W - I|_F^2."""
    Xc = X - X.mean(0)
    err = torch.linalg.matrix_norm(Xc - Xc @ W @ W.T) ** 2 / X.shape[0]
    return err + torch.linalg.matrix_norm(W.T @ W - torch.eye(2, dtype=torch.float64)) ** 2


@case("sw2", data=("Y", "theta"),
      X=[[0.5, -1.0], [1.5, 0.3], [-0.4, 0.8], [2.0, 2.2], [-1.1, -0.6]],
      Y=[[0.0, 0.1], [1.0, -0.5], [-0.7, 1.2], [0.3, 0.9], [2.2, 0.4]],
      theta=[[1.0, 0.0], [0.6, 0.8], [-0.8, 0.6]])
def sliced_wasserstein(X, Y, theta):
    """Mean squared difference of the sorted projections of X and Y on each direction."""
    px = torch.sort(X @ theta.T, dim=0).values
    py = torch.sort(Y @ theta.T, dim=0).values
    return F.mse_loss(px, py)


@case("loss", data=("target_cdf",),
      v=[0.3, 0.5, 1.0, 0.2, 0.6],            # v = 1 puts a zero inside the cumulative product
      target_cdf=[0.2, 0.6, 0.8, 0.9, 1.0])
def stick_breaking(v, target_cdf):
    """w_i = v_i prod_{j<i} (1 - v_j); squared error of cumsum(w) against the target plus |w|^2."""
    w = torch.stack([v[i] * torch.prod(1 - v[:i]) for i in range(len(v))])
    return ((torch.cumsum(w, 0) - target_cdf) ** 2).sum() + (w ** 2).sum()


# ---------------------------------------------------------------------------------------------
# Finance
# ---------------------------------------------------------------------------------------------

@case("book", S=100.0, K=[50.0, 95.0, 100.0, 400.0], T=0.5, r=0.02, sigma=0.25)
def black_scholes(S, K, T, r, sigma):
    """Sum over strikes of S N(d1) - K e^{-rT} N(d2)."""
    N = Normal(0.0, 1.0)
    d1 = (torch.log(S / K) + (r + sigma ** 2 / 2) * T) / (sigma * torch.sqrt(T))
    d2 = d1 - sigma * torch.sqrt(T)
    return (S * N.cdf(d1) - K * torch.exp(-r * T) * N.cdf(d2)).sum()


VOLS = np.array([0.01, 0.2, 0.5, 0.05])           # volatilities fifty times apart
CORR = np.array([[1.0, 0.3, 0.1, 0.0], [0.3, 1.0, 0.5, 0.2], [0.1, 0.5, 1.0, -0.3], [0.0, 0.2, -0.3, 1.0]])


@case("utility", data=("Sigma", "mu", "gamma"),
      logits=[0.5, -0.2, 1.0, 0.0], Sigma=(np.outer(VOLS, VOLS) * CORR).tolist(),
      mu=[0.01, 0.06, 0.12, 0.03], gamma=3.0)
def portfolio_variance(logits, Sigma, mu, gamma):
    """mu'w - gamma w' Sigma w with w = softmax(logits)."""
    w = torch.softmax(logits, 0)
    return mu @ w - gamma * (w @ Sigma @ w)


@case("loss", data=("R",),
      R=[[0.01, -0.02, 0.003], [0.004, 0.015, -0.01], [-0.012, 0.03, 0.002],
         [0.0, -0.005, 0.007], [0.02, 0.01, -0.004], [-0.006, 0.0, 0.001]],
      w_raw=[0.2, -0.5, 1.0])
def sharpe_ratio(R, w_raw):
    """-sqrt(252) mean/std (population std) of the returns of the softmax(w_raw) portfolio."""
    port = R @ torch.softmax(w_raw, 0)
    return -math.sqrt(252) * port.mean() / port.std(correction=0)


# ---------------------------------------------------------------------------------------------
# Physics and numerical methods
# ---------------------------------------------------------------------------------------------

@case("energy", data=("G", "softening"),
      pos=[[0.0, 0.0, 0.0], [1.0, 0.5, -0.2], [-0.7, 1.2, 0.4], [0.3, -0.9, 1.5]],
      vel=[[0.1, -0.2, 0.0], [0.0, 0.3, 0.1], [-0.4, 0.0, 0.2], [0.2, 0.1, -0.3]],
      mass=[[1.0], [0.5], [2.0], [0.25]], G=1.0, softening=0.1)
def nbody_energy(pos, vel, mass, G, softening):
    """Kinetic energy minus G m_i m_j / sqrt(|r_i - r_j|^2 + s^2) over every pair."""
    m = mass[:, 0]
    energy = 0.5 * (m * (vel ** 2).sum(1)).sum()
    for i in range(len(m)):
        for j in range(i + 1, len(m)):
            energy = energy - G * m[i] * m[j] / torch.sqrt(((pos[i] - pos[j]) ** 2).sum() + softening ** 2)
    return energy


@case("energy", data=("dt",), theta0=2.5, omega0=-0.3, g=9.81, L=0.7, dt=0.02)   # a large swing
def pendulum_euler(theta0, omega0, g, L, dt):
    """25 explicit Euler steps of (theta, omega)' = (omega, -(g/L) sin theta), then the energy per unit mass."""
    state = torch.stack([theta0, omega0])
    for _ in range(25):
        state = state + dt * torch.stack([state[1], -g / L * torch.sin(state[0])])
    theta, omega = state
    return 0.5 * (L * omega) ** 2 + g * L * (1 - torch.cos(theta))


@case("step", data=("h",), X=[10.0, 5.0], rates=[1.0, 0.1, 1.5, 0.75], h=0.1)
def rk4_lotka_volterra(X, rates, h):
    """The length of one RK4 step of the Lotka-Volterra equations."""
    a, b, c, d = rates
    f = lambda z: torch.stack([z[0] * (a - b * z[1]), z[1] * (d * b * z[0] - c)])
    return torch.linalg.vector_norm(rk4_step(f, X, h) - X)


@case("r2", data=("h",), x0=2.0, v0=0.0, mu=1.5, h=0.1)
def vanderpol_rk4(x0, v0, mu, h):
    """|z|^2 after six RK4 steps of z' = (v, mu (1 - x^2) v - x)."""
    f = lambda z: torch.stack([z[1], mu * (1 - z[0] ** 2) * z[1] - z[0]])
    z = torch.stack([x0, v0])
    for _ in range(6):
        z = rk4_step(f, z, h)
    return (z ** 2).sum()


@case("energy", data=("masses", "k_spring", "rest"),
      q=[0.0, 0.0, 0.9, -0.4, 2.1, -0.6], anchor=[0.1, 0.2],
      masses=[1.0, 0.5, 0.1], k_spring=50.0, rest=1.0)
def spring_chain(q, anchor, masses, k_spring, rest):
    """Spring energy of consecutive links, a spring tying mass 0 to the anchor, and gravity."""
    pos = q.view(-1, 2)
    lengths = torch.linalg.vector_norm(pos[1:] - pos[:-1], dim=1)
    springs = 0.5 * k_spring * ((lengths - rest) ** 2).sum()
    return springs + 0.5 * k_spring * ((pos[0] - anchor) ** 2).sum() + 9.81 * (masses * pos[:, 1]).sum()


@case("energy", data=("f", "lam"),
      u=[0.0, 0.0, 1.2, 0.9, -0.5, 3.0],        # a flat step: one difference exactly 0
      f=[0.1, -0.2, 1.0, 1.1, -0.3, 2.5], lam=0.4)
def tv_denoising(u, f, lam):
    """|u - f|^2 / 2 + lam sum sqrt((u_{i+1} - u_i)^2 + 1e-6)."""
    return 0.5 * ((u - f) ** 2).sum() + lam * torch.sqrt((u[1:] - u[:-1]) ** 2 + 1e-6).sum()


@case("loss", data=("target", "dx", "dt"),
      u0=[0.0, 0.5, 2.0, -1.0, 0.3, 0.0], nu=0.3, target=[0.0, 0.4, 0.6, 0.2, 0.1, 0.0], dx=0.5, dt=0.1)
def diffusion_1d(u0, nu, target, dx, dt):
    """Five explicit steps u_i += nu dt/dx^2 (u_{i+1} - 2u_i + u_{i-1}) inside, the ends fixed."""
    kernel = torch.tensor([[[1.0, -2.0, 1.0]]], dtype=torch.float64)
    u = u0
    for _ in range(5):
        lap = F.conv1d(u.view(1, 1, -1), kernel).view(-1)
        u = torch.cat([u[:1], u[1:-1] + nu * dt / dx ** 2 * lap, u[-1:]])
    return ((u - target) ** 2).sum()


@case("total", p=[0.5, -1.0, 0.0, 3.0, -2.0], x=[-1.5, 0.0, 0.3, 2.0, 10.0])   # x = 0 and x = 10
def horner_polyval(p, x):
    """sum_j sum_i p_i x_j^(m-1-i): the Vandermonde matrix times the reversed coefficients."""
    return (torch.linalg.vander(x, N=len(p)) @ p.flip(0)).sum()


@case("f", x=[1.0, 1.0, -1.2, 0.0, 3.0, 1e-3])   # at the minimum, at zero, and far out
def rosenbrock(x):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2."""
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


@case("loss", data=("T_s",),
      # t = 0 and t = 0.5 fall on sample points: sinc at 0 and at whole numbers
      samples=[0.5, -1.0, 2.0, 0.3, -0.7], t=[0.0, 0.13, 0.5, 0.77], T_s=0.25)
def sinc_interpolation(samples, t, T_s):
    """sum_m (sum_k s_k sinc((t_m - k T_s) / T_s))^2 with the normalised sinc."""
    k = torch.arange(len(samples), dtype=torch.float64)
    y = (samples * torch.sinc((t[:, None] - k * T_s) / T_s)).sum(1)
    return (y ** 2).sum()


@case("integral", a=1.7, b=0.8)
def trapezoid_linspace(a, b):
    """PyTorch's trapezoid rule for a exp(-b x^2) on six equally spaced points of [0, 2]."""
    x = torch.linspace(0, 2, 6, dtype=torch.float64)
    return torch.trapezoid(a * torch.exp(-b * x ** 2), x)


@case("rayleigh", data=("b0",),
      M=[[2.0, 0.5, -0.3], [0.7, 1.0, 0.2], [-0.1, 0.4, -1.5]], b0=[1.0, 0.3, -0.2])
def power_iteration(M, b0):
    """Eight normalised multiplications by A = (M + M')/2 from b0, then b'Ab."""
    A = (M + M.T) / 2
    b = b0
    for _ in range(8):
        b = A @ b
        b = b / torch.linalg.vector_norm(b)
    return b @ A @ b
