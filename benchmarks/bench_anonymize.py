"""Passcode-conditioned face anonymizer (after Gu et al., ECCV 2020) on the held-out built-in faces.

Trains (or reuses, --run) an anonymizer with `condgen train anonymizer --preset quick` (32 px, 16-bit passcodes)
on the 80 training faces of scikit-image's lfw_subset, then on the 20 held-out faces, each with its own random
passcode p (seeded):

- restoration error (mean |.| in grey levels 0..255) of T(T(x, p), -p) (right passcode), of a random wrong
  passcode, and of the right passcode with one bit flipped; and of the anonymized face itself;
- identity, in a space the model never trained in: LBP histograms (Ahonen et al. 2006, 4 x 4 cells, uniform
  P=8 R=1, chi-square; condgen.metrics.identity). Rank-1 re-identification rate of each kind of output against
  the 20 originals (chance 0.05), and mean distance to its original next to the mean distance between two
  different people (the originals, all pairs);
- diversity: LBP distance between the anonymizations of one face with two passcodes;
- a photo: scikit-image's astronaut, her face detected, anonymized, pasted (PNG), then restored with the right
  and a wrong passcode: mean |.| over the face box vs the original photo; and the time of each call.

    python benchmarks/bench_anonymize.py --steps 2000          # trains the quick preset (~40 min, 1 busy core)
    python benchmarks/bench_anonymize.py --run RUN             # reuse a trained run
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from common import load_avg, machine
from common import set_threads as _threads

ROOT = Path(__file__).resolve().parents[1]


def train(out: Path, steps: int) -> None:
    import sys

    from condgen.cli import main

    argv = sys.argv
    sys.argv = ["condgen", "train", "anonymizer", "--preset", "quick", "--out", str(out), "--set",
                f"train.steps={steps}", "--set", "train.progress=false", "--set", "seed=0"]
    try:
        main()
    except SystemExit as e:
        if e.code:
            raise
    finally:
        sys.argv = argv


def grey(t) -> np.ndarray:
    """N x 1 x H x W tensor in [-1, 1] -> N x H x W float grey levels."""
    return ((t[:, 0].clamp(-1, 1) + 1) * 127.5).numpy()


def faces_metrics(model, seed: int = 0) -> dict:
    import torch

    from condgen.data import load_dataset
    from condgen.metrics.identity import distance_matrix, reidentification_rate

    size = model.cfg.image_size
    test = load_dataset("faces", kind="images", split="test", image_size=size, channels=1)
    x = torch.stack([test[i]["image"] for i in range(len(test))])
    n = x.shape[0]
    gen = torch.Generator().manual_seed(seed)
    p = model._random_bits(n, gen)
    wrong = model._random_bits(n, gen)
    same = (wrong == p).all(1)
    wrong[same, 0] = 1 - wrong[same, 0]
    one_off = p.clone()
    idx = torch.randint(0, model.cfg.bits, (n,), generator=gen)
    one_off[torch.arange(n), idx] = 1 - one_off[torch.arange(n), idx]
    p2 = model._random_bits(n, gen)
    code = lambda bits: 2 * bits - 1  # noqa: E731
    anon = model.generate(x, code(p))
    # what the files hold: 8-bit images
    anon8 = torch.round((anon + 1) * 127.5) / 127.5 - 1
    outs = {"anonymized": anon8, "restored (right passcode)": model.generate(anon8, -code(p)),
            "restored (random wrong passcode)": model.generate(anon8, -code(wrong)),
            "restored (one bit off)": model.generate(anon8, -code(one_off))}
    anon2 = model.generate(x, code(p2))
    orig = grey(x).astype(np.uint8)
    res: dict = {"faces": n, "rows": {}}
    d_people = distance_matrix(orig, orig)
    res["lbp_other_person_mean"] = float(d_people[~np.eye(n, dtype=bool)].mean())
    res["lbp_reid_chance"] = 1 / n
    for name, y in outs.items():
        g = grey(y)
        d = distance_matrix(g.round().astype(np.uint8), orig)
        res["rows"][name] = {"pixel_L1": float(np.abs(g - grey(x)).mean()),
                             "lbp_dist_to_original": float(np.diag(d).mean()),
                             "reid_rank1": reidentification_rate(g.round().astype(np.uint8), orig)}
    a1, a2 = grey(anon).round().astype(np.uint8), grey(anon2).round().astype(np.uint8)
    res["diversity_lbp_two_passcodes"] = float(np.diag(distance_matrix(a1, a2)).mean())
    res["diversity_pixel_L1_two_passcodes"] = float(np.abs(grey(anon) - grey(anon2)).mean())
    return res, x, outs, anon2


def photo_metrics(model) -> dict:
    from PIL import Image
    from skimage.data import astronaut

    from condgen.faces import detect_faces, transform_faces

    img = astronaut()
    t0 = time.perf_counter()
    boxes = detect_faces(img)
    t_detect = time.perf_counter() - t0
    right, wrong = "1011001110001111", "0110100101101001"
    t0 = time.perf_counter()
    anon = transform_faces(model, img, right, boxes)
    t_anon = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:  # through a PNG file, as the CLI writes it
        Image.fromarray(anon).save(Path(d) / "a.png")
        anon = np.asarray(Image.open(Path(d) / "a.png"))
    back = transform_faces(model, anon, right, boxes, restore=True)
    bad = transform_faces(model, anon, wrong, boxes, restore=True)
    b = boxes[0]
    region = (slice(b.y, b.y + b.h), slice(b.x, b.x + b.w))
    err = lambda im: float(np.abs(im[region].astype(float) - img[region].astype(float)).mean())  # noqa: E731
    tiles = [img[region], anon[region], back[region], bad[region]]
    return {"boxes": [vars(x) for x in boxes], "face_L1_anonymized": err(anon), "face_L1_restored_right": err(back),
            "face_L1_restored_wrong": err(bad), "seconds_detect": t_detect, "seconds_anonymize": t_anon}, tiles


def picture(x, outs, anon2, tiles, path: Path, k: int = 6) -> None:
    """Rows: original | anonymized | restored | wrong passcode | second passcode (faces), then the photo's face."""
    from PIL import Image

    cols = [grey(x)] + [grey(outs[n]) for n in ("anonymized", "restored (right passcode)",
                                               "restored (random wrong passcode)")] + [grey(anon2)]
    s = 96
    rows = [np.concatenate([np.asarray(Image.fromarray(c[i].round().astype(np.uint8)).resize((s, s), Image.NEAREST))
                            for c in cols], 1) for i in range(k)]
    faces = np.concatenate(rows, 0)
    faces = np.repeat(faces[..., None], 3, axis=2)
    photo = np.concatenate([np.asarray(Image.fromarray(t).resize((s, s), Image.BICUBIC)) for t in tiles]
                           + [np.full((s, s, 3), 255, np.uint8)], 1)
    Image.fromarray(np.concatenate([faces, photo], 0)).save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, help="a trained anonymizer run (default: train one)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "anonymize.json")
    ap.add_argument("--picture", type=Path, default=ROOT / "docs" / "images" / "anonymize_grid.png")
    args = ap.parse_args()
    threads = _threads(args.threads)
    import condgen

    run = args.run
    t0 = time.perf_counter()
    if run is None:
        run = Path(tempfile.mkdtemp()) / "anonymizer"
        train(run, args.steps)
    train_s = time.perf_counter() - t0
    model = condgen.load(run)
    faces, x, outs, anon2 = faces_metrics(model)
    photo, tiles = photo_metrics(model)
    picture(x, outs, anon2, tiles, args.picture)
    result = {"machine": machine(), "load_avg": load_avg(), "threads": threads, "run": str(run),
              "steps": model.step, "train_seconds": train_s if args.run is None else None,
              "config": model.run_config.to_dict() if hasattr(model.run_config, "to_dict") else None,
              "faces": faces, "photo": photo}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
