"""The built-in ``scenes`` semantic-synthesis sets: procedural landscape label maps and images painted from them.

Nothing here downloads. Every scene is a list of shapes drawn in continuous [0, 1] coordinates from a generator
keyed by (seed, split, index), so ``scenes`` (128 x 128) and ``scenes64`` (64 x 64) hold the same scenes at two
resolutions, each rasterised natively (labels are never resized). Layout, back to front:

- sky with 0-3 clouds (unions of ellipses) above a horizon line with a little noise;
- 0-2 mountain ranges whose ridges come from 1-D value noise (far range hazier), with snow on high peaks;
- grass below the horizon; maybe water: a band from the horizon to a noisy shore, or a pond (noisy ellipse);
- rocks (noisy rotated ellipses), trees (round crowns of 3 circles or conifer triangles, with trunks) and
  buildings (walls + optional gable roof), sorted by their base line so nearer things cover farther ones.

Images are painted region by region from the label map: each class gets a crop of a real grey texture that
scikit-image ships (``data.grass`` for grass and trees, ``data.gravel`` for rocks and, stretched into ripples,
water, ``data.moon`` for mountains and clouds, ``data.brick`` for walls), colourised with the class colour,
jittered per scene and per object, times smooth shading: a vertical gradient for sky and water (dusk in some
scenes), haze and slope light on mountains, depth and broad light/dark patches on grass, a light from the
upper left on rocks and tree crowns, windows on buildings. The image is therefore a function of the label map
(and the scene's seed), but textured.

Files are written as ``<name>/{train,test}/{images,labels,instances}/NNNNN.png`` plus ``classes.txt`` (line i
names id i) and ``sources.json``. Labels are palette PNGs (mode "P": the pixel values are the class ids, the
palette only makes them viewable); instance maps are 8-bit, one id per painted object (0 is never used).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from condgen.errors import DataError

SCENE_CLASSES = ("sky", "cloud", "mountain", "water", "grass", "rock", "tree", "building")
SKY, CLOUD, MOUNTAIN, WATER, GRASS, ROCK, TREE, BUILDING = range(len(SCENE_CLASSES))
SCENE_SIZES = {"scenes": 128, "scenes64": 64}
SCENE_COUNTS = {"train": 800, "test": 100}
SCENE_SEED = 0
_SPLIT_KEY = {"train": 0, "test": 1}  # part of each scene's generator key, so the splits never repeat a scene
CLASSES_FILE = "classes.txt"
SOURCES_FILE = "sources.json"

# Colours the label PNGs show in a viewer (palette entries; the stored values are the ids). 255 = black.
CLASS_COLOURS = ((110, 170, 235), (235, 235, 240), (120, 105, 150), (30, 90, 170), (80, 160, 60),
                 (140, 130, 120), (20, 90, 40), (190, 80, 60))
# Base colours of the rendered classes (RGB in [0, 1]); per-scene and per-object jitter is added.
_BASE = {MOUNTAIN: (0.42, 0.40, 0.46), WATER: (0.10, 0.28, 0.45), GRASS: (0.30, 0.48, 0.17),
         ROCK: (0.50, 0.47, 0.43), TREE: (0.12, 0.34, 0.12), BUILDING: (0.62, 0.36, 0.28)}
_TRUNK = (0.30, 0.20, 0.12)
# (scikit-image texture, source pixels per output pixel at 128 px, contrast)
_TEXTURES = {GRASS: ("grass", 1.0, 0.28), TREE: ("grass", 0.7, 0.40), ROCK: ("gravel", 1.0, 0.35),
             MOUNTAIN: ("moon", 2.0, 0.45), CLOUD: ("moon", 1.5, 0.25), BUILDING: ("brick", 1.2, 0.30),
             WATER: ("gravel", 1.0, 0.25)}


def palette() -> list[int]:
    """The 768-entry palette of the label PNGs: class colours, then grey, with 255 (don't-care) black."""
    pal = [c for rgb in CLASS_COLOURS for c in rgb]
    pal += [128] * (3 * 255 - len(pal)) + [0, 0, 0]
    return pal


# ----------------------------------------------------------------------------------------- noise
def _noise_1d(rng: np.random.Generator, octaves: int = 3, knots: int = 4) -> list[np.ndarray]:
    """Random knot values of a 1-D value noise (one array per octave); evaluate with ``_eval_1d``."""
    return [rng.random(knots * 2**o + 1) for o in range(octaves)]


def _eval_1d(knots: list[np.ndarray], t: np.ndarray) -> np.ndarray:
    """Value noise at positions ``t`` in [0, 1]: smoothstep-interpolated knots, octaves halved, in [0, 1]."""
    out, total = np.zeros_like(t), 0.0
    for o, k in enumerate(knots):
        pos = np.clip(t, 0.0, 1.0) * (len(k) - 1)
        i = np.minimum(pos.astype(np.int64), len(k) - 2)
        f = pos - i
        f = f * f * (3.0 - 2.0 * f)
        amp = 0.5**o
        out += amp * (k[i] * (1.0 - f) + k[i + 1] * f)
        total += amp
    return out / total


def _smooth_2d(grid: np.ndarray, size: int) -> np.ndarray:
    """A small random grid upsampled bicubic to ``size`` x ``size`` (a smooth field, same values at any size)."""
    return np.asarray(Image.fromarray(grid.astype(np.float32), mode="F").resize((size, size),
                                                                                Image.Resampling.BICUBIC))


# ------------------------------------------------------------------------------------- textures
@cache
def _source_texture(name: str) -> np.ndarray:
    try:
        from skimage import data

        return np.asarray(getattr(data, name)(), dtype=np.uint8)
    except Exception as e:  # noqa: BLE001 - a missing/changed package file surfaces as many exception types
        raise DataError(f"cannot load the texture {name!r} shipped with scikit-image ({type(e).__name__}: {e}); "
                        "reinstall it (pip install scikit-image).") from None


@cache
def _texture(cls: int, size: int) -> np.ndarray:
    """Class ``cls``'s texture, zero mean and unit deviation, scaled for ``size`` px scenes (float32)."""
    name, per_pixel, _ = _TEXTURES[cls]
    src = Image.fromarray(_source_texture(name))
    # At 64 px one output pixel covers twice the source: the same scene looks the same at both sizes.
    factor = size / (128.0 * per_pixel)
    w, h = max(size + 1, round(src.width * factor)), max(size + 1, round(src.height * factor))
    if cls == WATER:
        w, h = max(size + 1, round(src.width * factor * 3.0)), max(size + 1, round(src.height * factor * 0.6))
    tex = np.asarray(src.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    return (tex - tex.mean()) / (tex.std() + 1e-6)


def _crop(cls: int, size: int, fx: float, fy: float, turn: int) -> np.ndarray:
    tex = _texture(cls, size)
    h, w = tex.shape
    y, x = int(fy * (h - size)), int(fx * (w - size))
    out = tex[y:y + size, x:x + size]
    return out[:, ::-1] if turn else out  # mirrored, never rotated: water ripples stay horizontal


# ---------------------------------------------------------------------------------------- layout
def _jitter(rng: np.random.Generator, rgb: tuple, amount: float) -> np.ndarray:
    out = np.clip(np.asarray(rgb) * (1.0 + amount * rng.standard_normal(3)) + 0.02 * rng.standard_normal(), 0, 1)
    return out.astype(np.float32)


class _Scene:
    """One scene's shapes and colours, drawn from its generator in an order that does not depend on size."""

    def __init__(self, rng: np.random.Generator):
        r = rng
        self.horizon = r.uniform(0.36, 0.62)
        self.horizon_noise = _noise_1d(r, 2, 3)
        dusk = r.random() < 0.2
        self.zenith = _jitter(r, (0.35, 0.38, 0.68) if dusk else (0.20, 0.42, 0.80), 0.08)
        self.sky_low = _jitter(r, (0.95, 0.68, 0.48) if dusk else (0.72, 0.84, 0.95), 0.05)
        self.clouds = [self._cloud(r) for _ in range(r.integers(0, 4) if r.random() < 0.6 else 0)]
        n_ranges = int(r.choice(3, p=(0.2, 0.45, 0.35)))
        self.ranges = [(r.uniform(0.12, 0.34) * (1.0 if k == 0 else 0.6), _noise_1d(r, 3, int(r.integers(2, 5))),
                        0.5 if (k == 0 and n_ranges == 2) else 0.15, _jitter(r, _BASE[MOUNTAIN], 0.12))
                       for k in range(n_ranges)]
        self.water = None
        if r.random() < 0.6:
            if r.random() < 0.6:
                self.water = ("band", r.uniform(0.06, 0.28), _noise_1d(r, 3, 3))
            else:
                rx = r.uniform(0.15, 0.35)
                self.water = ("pond", r.uniform(0.2, 0.8), r.uniform(0.12, 0.3), rx, rx * r.uniform(0.25, 0.4),
                              _noise_1d(r, 2, 4))
        self.water_rgb = _jitter(r, _BASE[WATER], 0.12)
        self.grass_rgb = _jitter(r, _BASE[GRASS], 0.12)
        self.grass_light = r.uniform(-1.0, 1.0, (5, 5))
        things = []
        for _ in range(int(r.integers(0, 5)) if r.random() < 0.6 else 0):
            things.append(self._rock(r))
        for _ in range(int(r.integers(1, 7)) if r.random() < 0.75 else 0):
            things.append(self._tree(r))
        for _ in range(int(r.integers(1, 4)) if r.random() < 0.4 else 0):
            things.append(self._building(r))
        self.things = sorted(things, key=lambda t: t["base"])  # far (high on screen) first
        self.texture_draws = {c: (r.random(), r.random(), int(r.integers(0, 2))) for c in sorted(_TEXTURES)}

    def _depth(self, y: float) -> float:
        """0 at the horizon, 1 at the bottom edge: how near a thing standing at height ``y`` is."""
        return float(np.clip((y - self.horizon) / (1.0 - self.horizon), 0.0, 1.0))

    def _cloud(self, r):
        cy = r.uniform(0.05, max(0.08, self.horizon - 0.15))
        cx, w = r.uniform(0.0, 1.0), r.uniform(0.1, 0.3)
        puffs = [(cx + r.uniform(-w, w) / 2, cy + r.uniform(-0.02, 0.02), r.uniform(0.4, 0.7) * w / 2,
                  r.uniform(0.15, 0.3) * w / 2) for _ in range(int(r.integers(2, 5)))]
        return {"puffs": puffs, "shade": r.uniform(0.85, 1.0)}

    def _rock(self, r):
        cy = r.uniform(self.horizon + 0.04, 0.97)
        s = r.uniform(0.03, 0.08) * (0.4 + 1.2 * self._depth(cy))
        return {"cls": ROCK, "base": cy, "cx": r.uniform(0.0, 1.0), "cy": cy, "rx": s, "ry": s * r.uniform(0.5, 0.85),
                "angle": r.uniform(-0.4, 0.4), "edge": _noise_1d(r, 2, 5), "rgb": _jitter(r, _BASE[ROCK], 0.15)}

    def _tree(self, r):
        by = r.uniform(self.horizon + 0.01, 0.98)
        h = r.uniform(0.12, 0.28) * (0.35 + 1.1 * self._depth(by))
        conifer = r.random() < 0.4
        crown = [(r.uniform(-0.2, 0.2) * h, -r.uniform(0.5, 0.75) * h, r.uniform(0.22, 0.35) * h) for _ in range(3)]
        return {"cls": TREE, "base": by, "bx": r.uniform(0.0, 1.0), "by": by, "h": h, "conifer": conifer,
                "crown": crown, "width": r.uniform(0.28, 0.4) * h, "rgb": _jitter(r, _BASE[TREE], 0.2)}

    def _building(self, r):
        by = r.uniform(self.horizon + 0.01, min(0.95, self.horizon + 0.25))
        k = 0.5 + 1.0 * self._depth(by)
        w, h = r.uniform(0.08, 0.2) * k, r.uniform(0.08, 0.25) * k
        wall = r.choice(3)
        rgb = _jitter(r, ((0.62, 0.36, 0.28), (0.75, 0.68, 0.55), (0.55, 0.55, 0.58))[wall], 0.08)
        return {"cls": BUILDING, "base": by, "x0": r.uniform(-0.05, 1.0 - w * 0.5), "w": w, "h": h, "by": by,
                "roof": r.uniform(0.25, 0.6) * w if r.random() < 0.5 else 0.0, "rgb": rgb,
                "windows": (int(r.integers(2, 5)), int(r.integers(2, 5)))}


# ------------------------------------------------------------------------------------ rasterise
def _ellipse(x, y, cx, cy, rx, ry, angle=0.0):
    """Normalised elliptical radius and angle of every pixel around (cx, cy)."""
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = x - cx, y - cy
    u, v = (c * dx + s * dy) / rx, (-s * dx + c * dy) / ry
    return np.sqrt(u * u + v * v), np.arctan2(v, u), u, v


def _box(x0: float, x1: float, y0: float, y1: float, n: int) -> tuple[slice, slice] | None:
    """The (rows, cols) pixel slices covering [x0, x1] x [y0, y1] of an n x n raster, or None if empty."""
    c0, c1 = max(0, int(np.floor(x0 * n)) - 1), min(n, int(np.ceil(x1 * n)) + 1)
    r0, r1 = max(0, int(np.floor(y0 * n)) - 1), min(n, int(np.ceil(y1 * n)) + 1)
    return (slice(r0, r1), slice(c0, c1)) if c1 > c0 and r1 > r0 else None


def render_scene(index: int, size: int = 128, seed: int = SCENE_SEED,
                 split: str = "train") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scene ``index`` of ``split`` as (image uint8 H x W x 3, label uint8 H x W, instance uint8 H x W).

    A pure function of (seed, split, index) and ``size``: the same arguments give the same arrays.
    """
    if split not in _SPLIT_KEY:
        raise DataError(f"scenes have splits {', '.join(_SPLIT_KEY)}, not {split!r}.")
    sc = _Scene(np.random.default_rng((int(seed), _SPLIT_KEY[split], int(index))))
    n = int(size)
    t = (np.arange(n, dtype=np.float32) + 0.5) / n
    x, y = np.meshgrid(t, t)
    label = np.full((n, n), SKY, np.uint8)
    inst = np.ones((n, n), np.uint8)
    img = np.zeros((n, n, 3), np.float32)
    next_id = [2]

    def paint(mask, cls, rgb, box=(slice(None), slice(None))):
        np.copyto(label[box], cls, where=mask)
        np.copyto(inst[box], next_id[0], where=mask)
        next_id[0] += 1
        np.copyto(img[box], rgb, where=mask[..., None], casting="same_kind")

    horizon = sc.horizon + 0.012 * (_eval_1d(sc.horizon_noise, t) - 0.5)  # per column
    hz = horizon[None, :]
    # Sky: gradient from the zenith to the pale band at the horizon.
    g = np.clip(y / hz, 0.0, 1.0)[..., None] ** 1.6
    img[:] = sc.zenith * (1 - g) + sc.sky_low * g
    cloud_tex = _crop(CLOUD, n, *sc.texture_draws[CLOUD])
    for cloud in sc.clouds:
        puffs = cloud["puffs"]
        box = _box(min(p[0] - p[2] for p in puffs), max(p[0] + p[2] for p in puffs),
                   min(p[1] - p[3] for p in puffs), max(p[1] + p[3] for p in puffs), n)
        if box is None:
            continue
        bx_, by_ = x[box], y[box]
        mask = np.zeros(bx_.shape, bool)
        for cx, cy, rx, ry in puffs:
            mask |= _ellipse(bx_, by_, cx, cy, rx, ry)[0] < 1.0
        top = np.clip((by_ - min(p[1] for p in puffs)) * 20, 0, 1)  # darker bellies
        val = np.clip(cloud["shade"] * (0.98 - 0.18 * top) + 0.05 * cloud_tex[box], 0, 1)
        paint(mask, CLOUD, val[..., None] * np.array([0.98, 0.98, 1.0], np.float32), box)
    for k, (amp, knots, haze, rgb) in enumerate(sc.ranges):
        ridge_t = _eval_1d(knots, t)
        top = horizon - amp * (0.25 + 0.75 * ridge_t)
        slope = np.gradient(top, t)  # negative where the ridge rises to the right
        light = np.clip(1.0 + 0.15 * slope / max(amp, 1e-3), 0.7, 1.3)[None, :]
        box = _box(0.0, 1.0, float(top.min()), float(horizon.max()), n)
        yb = y[box]
        mask = yb >= top[None, :]
        tex = _crop(MOUNTAIN, n, *sc.texture_draws[MOUNTAIN])[box]
        col = rgb * (light * (1.0 + _TEXTURES[MOUNTAIN][2] * 0.3 * tex))[..., None]
        if amp > 0.2:  # snow on the high peaks
            height = np.clip((hz - yb) / amp, 0, 1)[..., None]  # 0 at the foot, 1 at the highest peak
            snow = np.clip((height - 0.72) * 6, 0, 1)
            col = col * (1 - snow) + np.array([0.93, 0.94, 0.97], np.float32) * light[..., None] * snow
        col = col * (1 - haze) + sc.sky_low * (haze * (1 - 0.3 * k))
        paint(mask, MOUNTAIN, np.clip(col, 0, 1), box)
    # Ground: grass, lighter and hazier towards the horizon, with broad light and dark patches.
    ground = _box(0.0, 1.0, float(horizon.min()), 1.0, n)
    yg = y[ground]
    below = yg >= hz
    depth = np.clip((yg - hz) / (1 - hz), 0, 1)
    patches = _smooth_2d(sc.grass_light, n)[ground]
    tex = _crop(GRASS, n, *sc.texture_draws[GRASS])[ground]
    shade = (0.8 + 0.35 * (1 - depth)) * (1 + 0.18 * patches) * (1 + _TEXTURES[GRASS][2] * tex * (0.4 + 0.6 * depth))
    paint(below, GRASS, np.clip(sc.grass_rgb * shade[..., None], 0, 1), ground)
    if sc.water is not None:
        xg = x[ground]
        if sc.water[0] == "band":
            _, deep, knots = sc.water
            shore = horizon + deep * (0.6 + 0.4 * _eval_1d(knots, t))
            mask = below & (yg < shore[None, :])
        else:
            _, cx, dy, rx, ry, knots = sc.water
            r, ang, _, _ = _ellipse(xg, yg, cx, sc.horizon + dy + ry, rx, ry)
            mask = below & (r < 0.85 + 0.3 * _eval_1d(knots, (ang + np.pi) / (2 * np.pi)))
        wd = np.clip((yg - hz) / 0.3, 0, 1)[..., None]  # reflects the pale sky near the far shore
        tex = _crop(WATER, n, *sc.texture_draws[WATER])[ground][..., None]
        col = (sc.water_rgb * (0.8 + 0.4 * wd) * (1 - 0.5 * (1 - wd)) + sc.sky_low * 0.5 * (1 - wd))
        paint(mask, WATER, np.clip(col * (1 + _TEXTURES[WATER][2] * tex), 0, 1), ground)
    # Things (rocks, trees, buildings), far to near, each painted with its own colour and shading inside its
    # bounding box only: later (nearer) things cover earlier ones.
    tex = {c: _crop(c, n, *sc.texture_draws[c]) for c in (ROCK, TREE, BUILDING)}
    for th in sc.things:
        cls = th["cls"]
        if cls == ROCK:
            reach = max(th["rx"], th["ry"]) * 1.2
            box = _box(th["cx"] - reach, th["cx"] + reach, th["cy"] - reach, th["cy"] + reach, n)
        elif cls == TREE:
            reach = max(th["width"], 0.6 * th["h"])
            box = _box(th["bx"] - reach, th["bx"] + reach, th["by"] - 1.1 * th["h"], th["by"], n)
        else:
            box = _box(th["x0"], th["x0"] + th["w"], th["by"] - th["h"] - th["roof"], th["by"], n)
        if box is None:
            continue
        bx_, by_ = x[box], y[box]
        col = None
        if cls == ROCK:
            r, ang, u, v = _ellipse(bx_, by_, th["cx"], th["cy"], th["rx"], th["ry"], th["angle"])
            mask = r < 0.8 + 0.35 * _eval_1d(th["edge"], (ang + np.pi) / (2 * np.pi))
            field = np.clip(1.0 - 0.3 * (u + v) / 1.4, 0.55, 1.35)  # lit from the upper left
        elif cls == TREE:
            bx, by, h = th["bx"], th["by"], th["h"]
            trunk = (np.abs(bx_ - bx) < 0.05 * h) & (by_ <= by) & (by_ >= by - 0.45 * h)
            if th["conifer"]:
                rel = (by - by_) / h  # 0 at the base, 1 at the tip
                crown = (rel > 0.2) & (rel < 1.0) & (np.abs(bx_ - bx) < th["width"] * (1.0 - rel) / 0.8)
                u, v = (bx_ - bx) / th["width"], (by_ - (by - 0.6 * h)) / (0.4 * h)
            else:
                crown = np.zeros(bx_.shape, bool)
                for dx, dy, rad in th["crown"]:
                    crown |= _ellipse(bx_, by_, bx + dx, by + dy, rad, rad)[0] < 1.0
                u, v = (bx_ - bx) / (0.4 * h), (by_ - (by - 0.65 * h)) / (0.4 * h)
            mask = trunk | crown
            field = np.clip(1.0 - 0.25 * (u + v), 0.6, 1.4)
            bark = (trunk & ~crown)[..., None]
            col = np.where(bark, np.asarray(_TRUNK) * field[..., None],
                           th["rgb"] * (field * (1 + _TEXTURES[TREE][2] * tex[TREE][box]))[..., None])
        else:
            x0, w, h, by, roof = th["x0"], th["w"], th["h"], th["by"], th["roof"]
            wall = (bx_ >= x0) & (bx_ < x0 + w) & (by_ <= by) & (by_ > by - h)
            gable = ((by_ <= by - h) & (by_ > by - h - roof)
                     & (np.abs(bx_ - (x0 + w / 2)) < (w / 2) * (1 - (by - h - by_) / max(roof, 1e-6))))
            mask = wall | gable
            cols, rows = th["windows"]
            fx, fy = (bx_ - x0) / w * cols, (by - by_) / h * rows
            win = wall & (fx % 1 > 0.3) & (fx % 1 < 0.7) & (fy % 1 > 0.35) & (fy % 1 < 0.75) & (fy > 0.6)
            field = np.where(bx_ > x0 + 0.75 * w, 0.8, 1.0) * np.where(gable & ~wall, 0.7, 1.0)
            col = np.where(win[..., None], np.array([0.12, 0.14, 0.2], np.float32),
                           th["rgb"] * (field * (1 + _TEXTURES[BUILDING][2] * tex[BUILDING][box]))[..., None])
        if col is None:
            col = th["rgb"] * (field * (1 + _TEXTURES[cls][2] * tex[cls][box]))[..., None]
        paint(mask, cls, np.clip(col, 0, 1), box)
    image = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
    return image, label, inst


def write_scenes(name: str, dest: Path, seed: int = SCENE_SEED) -> dict[str, int]:
    """Write built-in set ``name`` (``scenes``/``scenes64``) under ``dest`` in the semantic folder layout."""
    if name not in SCENE_SIZES:
        raise DataError(f"unknown built-in scenes set {name!r}; valid names: {', '.join(SCENE_SIZES)}.")
    size = SCENE_SIZES[name]
    pal = palette()
    counts = {}
    for split, count in SCENE_COUNTS.items():
        dirs = {k: dest / split / k for k in ("images", "labels", "instances")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image, label, inst = render_scene(i, size, seed, split)
            fname = f"{i:05d}.png"
            # No metadata and fixed zlib settings: the same arrays give byte-identical files.
            Image.fromarray(image).save(dirs["images"] / fname, format="PNG", compress_level=1)
            lab = Image.frombytes("P", (size, size), np.ascontiguousarray(label).tobytes())
            lab.putpalette(pal)
            lab.save(dirs["labels"] / fname, format="PNG", compress_level=1)
            Image.fromarray(inst).save(dirs["instances"] / fname, format="PNG", compress_level=1)
        counts[split] = count
    (dest / CLASSES_FILE).write_text("".join(f"{c}\n" for c in SCENE_CLASSES))
    sources = {"dataset": name, "size": size, "seed": seed, "classes": list(SCENE_CLASSES),
               "textures": {SCENE_CLASSES[c]: v[0] for c, v in sorted(_TEXTURES.items())},
               "note": "procedural label maps (condgen.data.builtin_scenes.render_scene(index, size, seed, split)); "
                       "images painted per region from scikit-image textures; labels are palette PNGs whose "
                       "values are class ids (line i of classes.txt names id i); instances/ holds one id per "
                       "painted object."}
    (dest / SOURCES_FILE).write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    return counts


#: The pix2pix-layout set made from the scenes: A = the label map in CLASS_COLOURS, B = the painted scene
LABEL_PAIRS = "labels2scenes"


def colour_labels(label: np.ndarray) -> np.ndarray:
    """A label map (H x W class ids) as uint8 H x W x 3 in ``CLASS_COLOURS``: the colour-coded label images of
    the pix2pix paper's labels -> photo sets (Cityscapes, facades)."""
    return np.asarray(CLASS_COLOURS, np.uint8)[label]


def write_label_pairs(dest: Path, seed: int = SCENE_SEED, size: int = 128,
                      counts: dict[str, int] | None = None) -> dict[str, int]:
    """Write ``labels2scenes``: the scenes' label maps (A, colour-coded) beside their images (B) as pix2pix A|B
    files, ``dest/{train,test}/NNNNN.png``; the same scenes (and splits) as ``scenes``. The image is a function
    of the labels only up to its textures' placement and the per-scene colour jitter: what L1 alone blurs."""
    counts = dict(SCENE_COUNTS if counts is None else counts)
    for split, count in counts.items():
        folder = dest / split
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image, label, _ = render_scene(i, size, seed, split)
            pair = np.concatenate([colour_labels(label), image], axis=1)
            Image.fromarray(pair).save(folder / f"{i:05d}.png", format="PNG", compress_level=1)
    sources = {"dataset": LABEL_PAIRS, "size": size, "seed": seed, "classes": list(SCENE_CLASSES),
               "colours": [list(c) for c in CLASS_COLOURS],
               "note": "A = render_scene(index, size, seed, split)'s label map in CLASS_COLOURS, B = its image."}
    (dest / SOURCES_FILE).write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    return counts

