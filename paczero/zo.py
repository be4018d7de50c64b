"""Seeded zeroth-order perturbations and updates.

A direction z ~ N(0, I) over the trainable parameters is never stored: it is
regenerated from its seed, one parameter tensor at a time, whenever it is
needed (perturb, restore, update). So no parameter-sized buffer is allocated.
"""

from __future__ import annotations

import torch

from paczero.models import decays


def _direction(param: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(param.shape, generator=generator, device=param.device, dtype=param.dtype)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


@torch.no_grad()
def perturb(trainable: list[tuple[str, torch.nn.Parameter]], seed: int, scale: float) -> None:
    """theta <- theta + scale * z(seed), in place."""
    if not trainable:
        return
    generator = _generator(seed, trainable[0][1].device)
    for _, param in trainable:
        param.add_(_direction(param, generator), alpha=scale)


@torch.no_grad()
def update(
    trainable: list[tuple[str, torch.nn.Parameter]],
    seed: int,
    coefficient: float,
    lr: float,
    weight_decay: float = 0.0,
) -> None:
    """theta <- theta - lr * (coefficient * z(seed) + weight_decay * theta), in place.

    Weight decay applies only to parameters that are not biases or norms.
    """
    if not trainable:
        return
    generator = _generator(seed, trainable[0][1].device)
    for name, param in trainable:
        z = _direction(param, generator)
        if weight_decay and decays(name):
            param.mul_(1.0 - lr * weight_decay)
        param.add_(z, alpha=-lr * coefficient)


def two_point_losses(trainable, seed: int, zo_eps: float, loss_fn) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example losses at theta + eps*z and theta - eps*z; theta is restored afterwards.

    Exactly two forward passes over the examples (through `loss_fn`), float32 results.
    """
    perturb(trainable, seed, zo_eps)
    plus = loss_fn().float()
    perturb(trainable, seed, -2.0 * zo_eps)
    minus = loss_fn().float()
    perturb(trainable, seed, zo_eps)
    return plus, minus
