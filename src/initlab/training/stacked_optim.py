"""SGD and Adam on stacked parameters, each member with its own lr, momentum and weight decay.

Every parameter tensor has a leading member dim K; the per-member hyper-parameters are (K,)
tensors broadcast over it, so one ``_foreach`` call updates all members. The updates are
``torch.optim.SGD`` (dampening 0, optional Nesterov) and ``torch.optim.Adam`` / ``AdamW``
(no amsgrad) step for step, with the lr schedule of :func:`initlab.optim.base.lr_factor` (a
Python float per step: no host sync). Keys that must be the same for all members of a stack
(:data:`SHARED_KEYS`) are checked. It has the interface the one loop (:func:`initlab.training.fit`)
steps: ``zero_grad``, ``step`` (from the parameters' ``.grad``), ``state_dict``; ``keep`` follows
the stack when members leave it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from initlab.optim.base import lr_factor

SHARED_KEYS = (
    "name",
    "schedule",
    "warmup_steps",
    "milestones",
    "gamma",
    "nesterov",
    "betas",
    "eps",
    "decoupled",
)
PER_MEMBER_KEYS = ("lr", "momentum", "weight_decay")
STATES = {"sgd": 1, "adam": 2}  # optimizer state tensors per parameter (for memory estimates)


def shared_settings(optim: Any) -> tuple:
    """What members of one stack must share (everything but lr, momentum, weight decay)."""
    return tuple((key, repr(getattr(optim, key, None))) for key in SHARED_KEYS)


class StackedOptimizer:
    """One optimizer for K members' stacked ``params`` (leading dim K), one config per member."""

    def __init__(
        self, params: Sequence[torch.Tensor], optims: Sequence[Any], total_steps: int
    ) -> None:
        if not optims:
            raise ValueError("need at least one member's optimizer config")
        settings = {shared_settings(o) for o in optims}
        if len(settings) > 1:
            raise ValueError(f"members of one stack must share {', '.join(SHARED_KEYS)}")
        self.cfg = optims[0]
        self.kind = getattr(self.cfg, "name", "sgd")
        if self.kind not in STATES:
            raise ValueError(f"optim {self.kind!r}: stacked training knows sgd and adam")
        self.total_steps = total_steps
        self.members = {
            key: torch.tensor([float(getattr(o, key, 0.0)) for o in optims])
            for key in PER_MEMBER_KEYS
        }
        self.uses = {key: bool(self.members[key].any()) for key in ("momentum", "weight_decay")}
        self.steps = 0
        self.state: list[list[torch.Tensor]] = []  # per state slot: one tensor per parameter
        self._views: dict[str, list[torch.Tensor]] = {}
        self.params = [p.requires_grad_() for p in params]

    def keep(self, rows: Sequence[int], params: Sequence[torch.Tensor]) -> None:
        """Go on with the members in ``rows`` only, whose parameters are now ``params`` (as
        :meth:`StackedModels.keep` cut them)."""
        index = torch.as_tensor(list(rows), dtype=torch.long)
        self.members = {key: value[index] for key, value in self.members.items()}
        self.state = [[s[index.to(s.device)] for s in slot] for slot in self.state]
        self._views = {}
        self.params = [p.requires_grad_() for p in params]

    def zero_grad(self, set_to_none: bool = True) -> None:  # noqa: ARG002 - always to None
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "members": dict(self.members), "state": self.state}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.steps = int(saved["steps"])
        self.members = dict(saved["members"])
        self.uses = {key: bool(self.members[key].any()) for key in ("momentum", "weight_decay")}
        self.state = [list(slot) for slot in saved["state"]]
        self._views = {}

    def _view(self, key: str, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """The (K,) per-member values of ``key`` shaped to broadcast over each parameter."""
        if key not in self._views:
            values = self.members[key].to(device=params[0].device, dtype=params[0].dtype)
            self._views[key] = [values.view(-1, *[1] * (p.dim() - 1)) for p in params]
        return self._views[key]

    @torch.no_grad()
    def step(self) -> None:
        """One update of every member from its parameters' gradients (``backward`` of the sum
        of the members' losses: member k's rows hold the gradient of its own loss)."""
        params = self.params
        grads = [p.grad for p in params]
        if any(g is None for g in grads):
            raise RuntimeError("stacked optimizer: a parameter got no gradient (unused in forward)")
        factor = lr_factor(self.cfg, self.steps, self.total_steps) if self._scheduled() else 1.0
        self.steps += 1
        if self.kind == "sgd":
            self._sgd(params, grads, factor)
        else:
            self._adam(params, grads, factor)

    def _scheduled(self) -> bool:
        return hasattr(self.cfg, "schedule") and hasattr(self.cfg, "warmup_steps")

    def _sgd(self, params: list[torch.Tensor], grads: list[torch.Tensor], factor: float) -> None:
        if self.uses["weight_decay"]:
            grads = torch._foreach_addcmul(grads, params, self._view("weight_decay", params))
        if self.uses["momentum"]:
            if not self.state:
                self.state = [[g.clone() for g in grads]]
            else:
                torch._foreach_mul_(self.state[0], self._view("momentum", params))
                torch._foreach_add_(self.state[0], grads)
            if getattr(self.cfg, "nesterov", False):
                grads = torch._foreach_addcmul(grads, self.state[0], self._view("momentum", params))
            else:
                grads = self.state[0]
        torch._foreach_addcmul_(params, self._view("lr", params), grads, value=-factor)

    def _adam(self, params: list[torch.Tensor], grads: list[torch.Tensor], factor: float) -> None:
        beta1, beta2 = (float(b) for b in self.cfg.betas)
        decay = self.uses["weight_decay"]
        if decay and self.cfg.decoupled:  # AdamW: p *= 1 - lr * wd
            lrs, wds = self._view("lr", params), self._view("weight_decay", params)
            torch._foreach_mul_(params, [1.0 - factor * lr * wd for lr, wd in zip(lrs, wds)])
        elif decay:
            grads = torch._foreach_addcmul(grads, params, self._view("weight_decay", params))
        if not self.state:
            self.state = [[torch.zeros_like(p) for p in params] for _ in range(2)]
        exp_avg, exp_avg_sq = self.state
        torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1.0 - beta2)
        bias1 = 1.0 - beta1**self.steps
        bias2_sqrt = math.sqrt(1.0 - beta2**self.steps)
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, float(self.cfg.eps))
        update = torch._foreach_div(exp_avg, denom)
        torch._foreach_addcmul_(params, self._view("lr", params), update, value=-factor / bias1)
