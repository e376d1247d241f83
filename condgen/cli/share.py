"""What follows training: ``condgen export`` (ONNX, pt2, TorchScript, safetensors), ``evaluate`` (held-out
metrics) and ``serve`` (the web demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from condgen.cli.common import device_option, echo
from condgen.config import MAX_SEED


def export(
    run: Path = typer.Argument(..., help="a run directory"),
    format: str = typer.Option("onnx", "--format", "-f",
                               help="onnx, pt2 (torch.export), torchscript, or safetensors (weights only)"),
    out: Path = typer.Option(..., "--out", "-o", help="file to write"),
    size: Optional[int] = typer.Option(None, help="example spatial size of image inputs (default: 256; SR: 64)"),
    direction: str = typer.Option("AtoB", help="two-way models: the direction to export"),
    no_ema: bool = typer.Option(False, "--no-ema", help="the trained weights instead of their moving average"),
) -> None:
    """Export the generator: ONNX or TorchScript (checked against PyTorch), or its weights as safetensors."""
    from condgen.export import export_run

    r = export_run(run, format, out, size=size, direction=direction, ema=not no_ema)
    line = f"wrote {r['file']} ({r['bytes'] / 1e6:.1f} MB, {r['model']}, {r['format']})"
    if "max_abs_diff" in r:
        dims = ", ".join(f"{n} {tuple(s)}" for n, s in r["inputs"].items())
        line += (f"\n  inputs: {dims}; batch{' and H, W' if any(2 in d for d in r['dynamic'].values()) else ''} "
                 f"dynamic\n  max difference to PyTorch on check inputs: {r['max_abs_diff']:.2e}"
                 + (f"\n  {r['note']}" if r["note"] else ""))
    echo(line)


# ----- evaluate -------------------------------------------------------------------------------------
def evaluate(
    run: Path = typer.Argument(..., help="a run directory"),
    n: int = typer.Option(2000, "--n", "-n", help="generated images for FID/KID (and per-class accuracy)"),
    features: str = typer.Option("auto", help="feature network: auto, digits or inception"),
    inception_weights: Optional[Path] = typer.Option(None, help="local FID Inception weights file"),
    seed: int = typer.Option(0, min=0, max=MAX_SEED),
    no_ema: bool = typer.Option(False, "--no-ema"),
    checkpoint: Optional[str] = typer.Option(None, help="a checkpoint file or its name in RUN/checkpoints "
                                                        "(default: last)"),
    segmenter: Optional[Path] = typer.Option(None, help="spade/oasis/sean: segmenter weights for mIoU (default for "
                                                        "the built-in scenes: trained once and cached)"),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="held-out data to evaluate on instead of the "
                                                                 "run's data.path (e.g. an imported checkpoint's "
                                                                 "own dataset); not saved into the run"),
) -> None:
    """Held-out metrics of a run: FID/KID (with the real-data floor) and class accuracy for GANs; L1/PSNR/SSIM for
    pix2pix and SR; cycle errors and FID/KID per direction for unpaired models; content/style losses for style;
    mIoU and segmenter-space FID for label-map synthesis."""
    from condgen.evaluate import evaluate_run, format_results

    results = evaluate_run(run, n=n, features=features, weights_path=inception_weights, seed=seed, ema=not no_ema,
                           checkpoint=checkpoint, segmenter=segmenter, data=data)
    echo(format_results(results))


# ----- serve ----------------------------------------------------------------------------------------
def serve(
    runs: list[Path] = typer.Argument(..., help="run directories (or exported .safetensors weights) to serve"),
    host: str = typer.Option("127.0.0.1", help="address to bind; anything but localhost exposes the demo"),
    port: int = typer.Option(7860, help="port"),
    device: str = device_option(),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.001, help="largest upload in MB"),
    max_pixels: int = typer.Option(16_000_000, "--max-pixels", min=1, help="largest uploaded image in pixels"),
) -> None:
    """Web demo (Gradio; pip install -e ".\\[demo]" from condgen's source folder): one tab per run to sample,
    translate, upscale, stylise or synthesise from a label map in the browser."""
    from condgen.serve import serve as run_server

    run_server(runs, host=host, port=port, device=device, max_pixels=max_pixels, max_upload_mb=max_upload_mb)
