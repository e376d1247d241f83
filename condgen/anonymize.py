"""`condgen anonymize`: replace the faces of a photo or a video by passcode-conditioned different faces, or restore
them with the passcode (see condgen/models/anonymizer.py and docs/anonymize.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from condgen.errors import ConfigError, DataError
from condgen.faces import Box, boxes_path, detect_faces, load_boxes, save_boxes, transform_faces

LOSSY_IMAGE = (".jpg", ".jpeg", ".webp")


def load_anonymizer(run: Path | None, device: str = "cpu"):
    """The anonymizer of ``run`` (a run directory or .safetensors weights), checked to be one."""
    import condgen

    if run is None:
        raise ConfigError("give the anonymizer with --run RUN: train one on the built-in faces with `condgen train "
                          "anonymizer --data faces --preset quick --out runs/anonymizer` (a few minutes on a CPU), "
                          "then `condgen anonymize PHOTO --run runs/anonymizer --out OUT.png`.")
    model = condgen.load(run, device=device)
    if model.task != "anonymize":
        raise ConfigError(f"{run} is a {model.run_config.model_name} run; `condgen anonymize` needs an anonymizer "
                          f"(`condgen train anonymizer --data faces`).")
    return model


def anonymize_file(source: Path, out: Path, run: Path | None = None, passcode: str | None = None,
                   restore: bool = False, boxes_file: Path | None = None, whole: bool = False, min_face: int = 32,
                   softness: float = 0.2, audio: str = "copy", device: str = "cpu",
                   echo: Callable[[str], Any] = print) -> dict:
    """Anonymize (or restore) the faces of the image or video ``source`` into ``out``; returns a summary dict."""
    from condgen.video import is_video_file

    source, out = Path(source), Path(out)
    if not source.exists():
        raise DataError(f"{source} does not exist.")
    if out.exists() and out.resolve() == source.resolve():
        raise ConfigError(f"the output {out} is the input; choose another output path.")
    model = load_anonymizer(run, device)
    passcode, drawn = resolve_passcode(passcode, model.cfg.bits, restore,  # checks the length before any work
                                       "--restore needs the --passcode the faces were anonymized with.")
    if drawn:
        echo(f"passcode: {passcode}  (keep it: it is the only way to restore these faces)")
    known: list[list[Box]] | None = None
    if restore and not whole:
        sidecar = boxes_file or boxes_path(source)
        if boxes_file is not None or sidecar.exists():
            known = load_boxes(sidecar)
        else:
            echo(f"warning: no {sidecar.name} beside {source.name}: detecting faces again, which may miss "
                 f"anonymized faces or find them at slightly different places (restoration is then approximate).")
    elif boxes_file is not None:
        raise ConfigError("--boxes is for --restore (anonymizing detects the faces).")
    out.parent.mkdir(parents=True, exist_ok=True)
    verb = "restored" if restore else "anonymized"
    if is_video_file(source):
        return _video(model, source, out, passcode, restore, known, whole, min_face, softness, audio, verb, echo)
    return _image(model, source, out, passcode, restore, known, whole, min_face, softness, verb, echo)


def resolve_passcode(passcode: str | None, bits: int, restore: bool, missing: str) -> tuple[str, bool]:
    """(the passcode as 0/1 digits, whether it was drawn now): an empty one is drawn from the secure random
    source when anonymizing; restoring without one raises ConfigError(``missing``)."""
    from condgen.models.anonymizer import format_passcode, parse_passcode, random_passcode

    text = str(passcode or "").strip()
    if not text:
        if restore:
            raise ConfigError(missing)
        return random_passcode(bits), True
    return format_passcode(parse_passcode(text, bits)), False


def anonymize_frame(model, img: np.ndarray, passcode: str, faces: list[Box], restore: bool = False,
                    whole: bool = False, softness: float = 0.2) -> np.ndarray:
    """The frame with its faces transformed; ``whole``: the frame is one face crop, replaced entirely (no blend)."""
    from PIL import Image

    if whole:
        return np.asarray(model.translate(Image.fromarray(img), passcode, restore=restore).convert("RGB"))
    return transform_faces(model, img, passcode, faces, restore=restore, softness=softness)


def _faces_in(img: np.ndarray, known: list[list[Box]] | None, index: int, whole: bool, min_face: int) -> list[Box]:
    if whole:
        return [Box(0, 0, img.shape[1], img.shape[0])]
    if known is not None:
        return known[index] if index < len(known) else []
    return detect_faces(img, min_size=min_face)


def _image(model, source, out, passcode, restore, known, whole, min_face, softness, verb, echo) -> dict:
    from PIL import Image

    from condgen.data.images import EXTENSIONS_TEXT, IMG_EXTENSIONS, open_image

    if out.suffix.lower() not in IMG_EXTENSIONS:
        raise ConfigError(f"the input is an image: the output {out} needs an image extension ({EXTENSIONS_TEXT}; "
                          f"png keeps restoration exact).")
    if known is not None and len(known) != 1:
        raise DataError(f"the boxes file holds {len(known)} frames; an image needs the boxes of one.")
    img = np.asarray(open_image(source, 3))
    faces = _faces_in(img, known, 0, whole, min_face)
    if out.suffix.lower() in LOSSY_IMAGE:
        echo(f"warning: {out.suffix} is lossy; restoring from it is approximate (write .png to restore exactly).")
    if not faces:
        Image.fromarray(img).save(out)
        echo(f"no face found in {source}; wrote it unchanged to {out} (try --min-face smaller, or --whole for a "
             f"face crop).")
        return {"faces": 0, "output": str(out)}
    result = anonymize_frame(model, img, passcode, faces, restore, whole, softness)
    Image.fromarray(result).save(out)
    if not restore and not whole:
        save_boxes(boxes_path(out), faces, model.cfg.bits)
    echo(f"{verb} {len(faces)} face(s) in {source} -> {out}"
         + ("" if restore or whole else f" (face boxes in {boxes_path(out).name}, needed to restore)"))
    return {"faces": len(faces), "output": str(out)}


def _video(model, source, out, passcode, restore, known, whole, min_face, softness, audio, verb, echo) -> dict:
    import os
    import tempfile

    from tqdm.auto import tqdm

    from condgen.video import AUDIO_MODES, VideoWriter, is_video_file, mux_audio, open_video

    if audio not in AUDIO_MODES:
        raise ConfigError(f"--audio must be one of {', '.join(AUDIO_MODES)}, got {audio!r}.")
    if not is_video_file(out):
        raise ConfigError(f"the input is a video: the output {out} needs a video extension (e.g. .mp4).")

    def temp(tag: str) -> Path:
        fd, name = tempfile.mkstemp(prefix=f".{out.stem}.{tag}-", suffix=out.suffix, dir=out.parent)
        os.close(fd)
        return Path(name)

    tmp, muxed = temp("video"), temp("audio")  # renamed onto OUT only when complete
    all_boxes: list[list[Box]] = []
    try:
        with open_video(source) as reader, VideoWriter(tmp, reader.fps_fraction) as writer:
            for i, frame in enumerate(tqdm(reader, total=reader.frames, desc=verb, unit="frame")):
                faces = _faces_in(frame, known, i, whole, min_face)
                all_boxes.append(faces)
                if faces:
                    frame = anonymize_frame(model, frame, passcode, faces, restore, whole, softness)
                writer.write(frame)
            has_audio = reader.has_audio
        if audio == "copy" and has_audio:
            mux_audio(tmp, source, muxed)
            os.replace(muxed, out)
        else:
            os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        muxed.unlink(missing_ok=True)
    n_faces = sum(len(f) for f in all_boxes)
    with_faces = sum(1 for f in all_boxes if f)
    if not restore and not whole:
        save_boxes(boxes_path(out), all_boxes, model.cfg.bits)
    if n_faces == 0:
        echo(f"no face found in any of the {len(all_boxes)} frames of {source}; {out} is the video unchanged "
             f"(re-encoded).")
    else:
        echo(f"{verb} {n_faces} face(s) in {with_faces} of {len(all_boxes)} frames of {source} -> {out}; a video "
             f"is lossy, so restoring from it is approximate.")
    return {"faces": n_faces, "frames": len(all_boxes), "output": str(out)}
