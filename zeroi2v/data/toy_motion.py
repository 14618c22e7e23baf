"""Toy dataset motions: each class of the synthetic set is a motion of one object.

A motion maps t in [0, 1] (shape (T,)) and a per-video rng to per-frame state arrays:
x, y (centre, frame units), r (radius, frame units), angle (rad, + = clockwise on screen),
alpha (visibility 0..1), ax, ay (axis scale factors for squashing). `MOTIONS` (name -> motion)
fixes the class order of the toy dataset; the draws from `rng` are part of the dataset's bytes,
so never reorder them.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

def _state(t, *, x, y, r, angle=0.0, alpha=1.0, ax=1.0, ay=1.0) -> dict[str, np.ndarray]:
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), t.shape).copy()  # noqa: E731
    return dict(x=full(x), y=full(y), r=full(r), angle=full(angle), alpha=full(alpha), ax=full(ax), ay=full(ay))


def _common(rng) -> dict:
    return dict(x=rng.uniform(0.38, 0.62), y=rng.uniform(0.38, 0.62), r=rng.uniform(0.12, 0.19), a0=rng.uniform(0, 2 * math.pi))


def translate(dx: float, dy: float, *, roll: bool = False) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        d = rng.uniform(0.36, 0.52) / math.hypot(dx, dy)
        x = c["x"] + (t - 0.5) * d * dx + rng.uniform(-0.04, 0.04)
        y = c["y"] + (t - 0.5) * d * dy + rng.uniform(-0.04, 0.04)
        angle = c["a0"] + (d * math.hypot(dx, dy) / c["r"]) * t * np.sign(dx) if roll else c["a0"]
        return _state(t, x=x, y=y, r=c["r"], angle=angle)

    return motion


def rotate(direction: int) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        return _state(t, x=c["x"], y=c["y"], r=c["r"] * 1.2, angle=c["a0"] + direction * rng.uniform(0.6, 1.0) * math.pi * t)

    return motion


def scale(kind: str) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        small, big = rng.uniform(0.06, 0.09), rng.uniform(0.2, 0.26)
        s = {"grow": t, "shrink": 1 - t, "approach": np.sin(math.pi * t), "retreat": 1 - np.sin(math.pi * t)}[kind]
        return _state(t, x=c["x"], y=c["y"], r=small + (big - small) * s, angle=c["a0"])

    return motion


def orbit(direction: int, *, spiral: str | None = None) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        cx, cy = 0.5 + rng.uniform(-0.05, 0.05), 0.5 + rng.uniform(-0.05, 0.05)
        turn = direction if spiral is None else rng.choice((-1, 1))
        phase = rng.uniform(0, 2 * math.pi) + turn * rng.uniform(1.2, 1.7) * math.pi * t
        radius = rng.uniform(0.2, 0.27)
        if spiral == "in":
            radius = radius * (1 - 0.85 * t)
        elif spiral == "out":
            radius = radius * (0.15 + 0.85 * t)
        return _state(t, x=cx + radius * np.cos(phase), y=cy + radius * np.sin(phase), r=c["r"] * 0.8, angle=c["a0"])

    return motion


def fade(kind: str) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        start = rng.uniform(0.15, 0.4)
        ramp = np.clip((t - start) / 0.35, 0, 1)
        if kind == "blink":
            cycles = rng.uniform(2.0, 3.0)
            ramp = (np.cos(2 * math.pi * cycles * t + rng.uniform(0, 2 * math.pi)) > 0).astype(np.float64)
        elif kind == "vanish":
            ramp = 1 - np.clip((t - (1 - start - 0.35)) / 0.35, 0, 1)
        return _state(t, x=c["x"], y=c["y"], r=c["r"], angle=c["a0"], alpha=ramp)

    return motion


def oscillate(axis: str, *, cycles: tuple[float, float], amp: tuple[float, float]) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        a = rng.uniform(*amp) * rng.choice((-1, 1))  # which side it starts moving to is free
        n = rng.uniform(*cycles)
        offset = a * np.sin(2 * math.pi * n * t)
        x, y = (c["x"] + offset, c["y"]) if axis == "x" else (c["x"], c["y"] + offset)
        return _state(t, x=x, y=y, r=c["r"], angle=c["a0"])

    return motion


def zigzag(dx: int) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        d = rng.uniform(0.36, 0.5)
        wave = rng.uniform(0.08, 0.12) * np.sin(2 * math.pi * rng.uniform(1.5, 2.5) * t + rng.uniform(0, 2 * math.pi))
        return _state(t, x=c["x"] + (t - 0.5) * d * dx, y=c["y"] + wave, r=c["r"] * 0.9, angle=c["a0"])

    return motion


def squash(axis: str) -> Callable:
    def motion(t, rng):
        c = _common(rng)
        f = 0.15 + 0.85 * np.abs(np.cos(math.pi * rng.uniform(1.0, 1.5) * t))
        ax, ay = (f, 1.0) if axis == "x" else (1.0, f)
        return _state(t, x=c["x"], y=c["y"], r=c["r"] * 1.2, angle=0.0, ax=ax, ay=ay)

    return motion


def pendulum(t, rng):
    c = _common(rng)
    length = rng.uniform(0.35, 0.45)
    phi = rng.uniform(0.5, 0.8) * np.cos(2 * math.pi * rng.uniform(0.8, 1.2) * t + rng.choice((0, math.pi)))
    return _state(t, x=0.5 + length * np.sin(phi), y=0.12 + length * np.cos(phi), r=c["r"] * 0.85, angle=c["a0"])


MOTIONS: dict[str, Callable] = {
    "move_left": translate(-1, 0), "move_right": translate(1, 0),
    "move_up": translate(0, -1), "move_down": translate(0, 1),
    "rotate_cw": rotate(1), "rotate_ccw": rotate(-1),
    "grow": scale("grow"), "shrink": scale("shrink"),
    "orbit_cw": orbit(1), "orbit_ccw": orbit(-1),
    "appear": fade("appear"), "vanish": fade("vanish"),
    "approach_then_retreat": scale("approach"), "retreat_then_approach": scale("retreat"),
    "bounce_horizontal": oscillate("x", cycles=(0.9, 1.1), amp=(0.2, 0.26)),
    "bounce_vertical": oscillate("y", cycles=(0.9, 1.1), amp=(0.2, 0.26)),
    "move_up_left": translate(-1, -1), "move_down_right": translate(1, 1),
    "move_up_right": translate(1, -1), "move_down_left": translate(-1, 1),
    "roll_left": translate(-1, 0, roll=True), "roll_right": translate(1, 0, roll=True),
    "spiral_in": orbit(1, spiral="in"), "spiral_out": orbit(1, spiral="out"),
    "zigzag_left": zigzag(-1), "zigzag_right": zigzag(1),
    "squash_horizontal": squash("x"), "squash_vertical": squash("y"),
    "shake_horizontal": oscillate("x", cycles=(3.0, 4.0), amp=(0.05, 0.07)),
    "shake_vertical": oscillate("y", cycles=(3.0, 4.0), amp=(0.05, 0.07)),
    "blink": fade("blink"), "pendulum": pendulum,
}  # fmt: skip
