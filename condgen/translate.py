"""Image-to-image inference for the file verbs: ``translate_files`` runs a model's ``translate`` over files and
folders. Running a model at any size (padding, tiles) and the image conversions live in condgen.imaging, below the
models; they are re-exported here, where they used to be."""

from __future__ import annotations

from pathlib import Path

from condgen.errors import DataError, InputTooSmallError
from condgen.imaging import (  # noqa: F401  (re-exported: their old home)
    _pad_run,
    _tiled,
    _window,
    as_image_input,
    pil_to_tensor,
    tensor_to_pil,
    to_uint8,
    translate_tensor,
)

#: the largest output image (in pixels) translate_files writes unless asked for more: 8000 x 8000. PIL refuses
#: to open images above about 179 megapixels as possible decompression bombs.
MAX_OUTPUT_PIXELS = 64_000_000


def translate_files(model, inputs: list[Path], out_dir: Path, max_output_pixels: int = MAX_OUTPUT_PIXELS,
                    **kwargs) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Translate image files and folders into ``out_dir`` (PNG, named after the inputs; see condgen.outputs for
    colliding names); returns the written files and the skipped inputs with their reasons.

    ``kwargs`` go to ``model.translate``. A model that returns several images per input (MUNIT with several
    styles) writes ``STEM_style0.png``, ``STEM_style1.png``, ... An input that cannot be read, is too small for
    the network, or whose output would exceed ``max_output_pixels`` (0: no limit) is skipped and listed; the
    others are still written. Nothing is written when an output would replace an input (a ConfigError).
    """
    from condgen.data.images import list_images, open_image
    from condgen.outputs import check_output_folder, plan_outputs, unique_files

    files: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise DataError(f"no images in folder {p}.")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"input {p} does not exist.")
    check_output_folder(out_dir)
    files = unique_files(files)  # a file given twice (itself and its folder, two spellings) is translated once
    styles = kwargs.get("num_styles") or 0
    plan = plan_outputs(files, out_dir, lambda stem: [f"{stem}_style{k}.png" for k in range(styles)] if styles > 1
                        else [f"{stem}.png"])
    out_dir.mkdir(parents=True, exist_ok=True)
    written, failed = [], []
    channels = model.input_channels(kwargs.get("direction") or "AtoB")
    scale = int(getattr(model.cfg, "scale", 1)) if model.task == "upscale" else 1
    opener = getattr(model, "open_input", None)  # e.g. label maps: read their ids, not their colours
    for f in files:
        try:
            img = opener(f) if opener is not None else open_image(f, channels)
            ow, oh = img.width * scale, img.height * scale
            if max_output_pixels and ow * oh > max_output_pixels:
                raise DataError(f"its output would be {ow}x{oh} = {ow * oh / 1e6:.1f} megapixels, above the limit "
                                f"of {max_output_pixels / 1e6:g} (--max-output-pixels {ow * oh} allows it)")
            y = model.translate(img, **kwargs)
        except (DataError, InputTooSmallError) as e:
            failed.append((f, str(e)))
            continue
        images = y if isinstance(y, list) else [y]
        for im, target in zip(images, plan[f]):
            im.save(target)
            written.append(target)
    return written, failed
