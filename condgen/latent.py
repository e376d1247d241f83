"""Latent-space tools from the DCGAN paper (sec. 6): walking the latent space and vector arithmetic."""

from __future__ import annotations

import re

import torch


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between codes (White 2016): follows the prior's shell, unlike a straight line."""
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device).reshape(-1, *([1] * z0.dim()))
    u0, u1 = z0 / z0.norm(dim=-1, keepdim=True), z1 / z1.norm(dim=-1, keepdim=True)
    omega = torch.acos((u0 * u1).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) / so) * z0 + (torch.sin(t * omega) / so) * z1
    # nearly parallel codes: fall back to a straight line (sin(omega) ~ 0)
    lin = (1 - t) * z0 + t * z1
    return torch.where(so.abs() < 1e-6, lin, out)


def codes_for_seed(model, seed: int, n: int) -> torch.Tensor:
    """The ``n`` latent codes ``condgen sample --seed seed --n n`` shows (cell i = code i)."""
    return model.sample_z(n, torch.Generator().manual_seed(seed)).cpu()


def interpolation_codes(keys: list[torch.Tensor], frames: int) -> torch.Tensor:
    """Codes walking through ``keys`` in order, ``frames`` steps per segment (slerp), ending at the last key."""
    if len(keys) < 2:
        raise ValueError("an interpolation needs at least two codes")
    ts = torch.linspace(0, 1, frames + 1)[:-1]
    parts = [slerp(a, b, ts) for a, b in zip(keys[:-1], keys[1:])]
    return torch.cat([*parts, keys[-1][None]], dim=0)


_TERM = re.compile(r"\s*([+-]?)\s*([0-9][0-9,\s]*)")


def parse_arithmetic(expr: str) -> list[tuple[int, list[int]]]:
    """Parse ``"3,17,22 - 5,9 + 40,41"`` into [(+1, [3,17,22]), (-1, [5,9]), (+1, [40,41])]."""
    terms, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TERM.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {expr[pos:]!r}: write groups of sample indices joined by + and -, "
                             f"e.g. '3,17,22 - 5,9 + 40,41'")
        sign = -1 if m.group(1) == "-" else 1
        idx = [int(x) for x in re.split(r"[,\s]+", m.group(2).strip()) if x]
        if not terms and m.group(1) == "-":
            raise ValueError("the first group cannot be subtracted")
        terms.append((sign, idx))
        pos = m.end()
    if len(terms) < 2:
        raise ValueError("vector arithmetic needs at least two groups, e.g. 'a - b + c'")
    return terms


def arithmetic_code(codes: torch.Tensor, terms: list[tuple[int, list[int]]]) -> torch.Tensor:
    """sum of sign x mean(codes[group]) over the groups (the paper averages 3 samples per concept)."""
    n = codes.shape[0]
    out = torch.zeros_like(codes[0])
    for sign, idx in terms:
        bad = [i for i in idx if i < 0 or i >= n]
        if bad:
            raise ValueError(f"sample index {bad[0]} is outside the grid of {n} samples (0..{n - 1})")
        out = out + sign * codes[idx].mean(0)
    return out


def arithmetic_variants(result: torch.Tensor, n: int, scale: float, generator: torch.Generator) -> torch.Tensor:
    """The result code and ``n - 1`` neighbours (+ small noise), as the paper shows a 3x3 of variants."""
    noise = torch.randn(n - 1, result.shape[-1], generator=generator) * scale
    return torch.cat([result[None], result[None] + noise], dim=0)
