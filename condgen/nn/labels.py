"""The label contract on the network side: integer label maps in, the float "semantic" tensor a generator or
discriminator reads out, plus the two don't-care conventions in the wild and a colour palette to look at labels.

The contract (DESIGN.md; issue 7):

- A label map is an integer tensor of class ids ``0 .. label_nc - 1`` (N x H x W, or N x 1 x H x W). Pixels
  nobody labelled ("don't care", "unknown", "void") hold ``IGNORE_ID`` = 255, as in the PNG files of COCO-Stuff
  and ADE20K-style datasets.
- ``semantic_input`` turns it into a one-hot map of ``label_nc`` channels. A don't-care pixel is all zeros: it
  is never silently fed as one of the classes. With ``dontcare_as_class`` it gets an extra (last) channel of its
  own instead, which is what SPADE does for COCO-Stuff (its ``--contain_dontcare_label``).
- An optional instance map (integer ids, same size) adds one boundary channel: 1 where a pixel's instance id
  differs from one of its 4 neighbours (both pixels of a differing pair are marked), as SPADE's instance edges.

Don't-care conventions of other code bases, and converters to and from ours:

- "last" (SPADE, imaginaire): don't care is the class index ``label_nc`` (255 -> label_nc at load time), so the
  one-hot has ``label_nc + 1`` channels and the last one is don't care. ``to_dontcare_last`` /
  ``from_dontcare_last``.
- "first" (OASIS): don't care is class 0 and the real classes are 1..label_nc (COCO-Stuff is shifted by +1 and
  255 -> 0; for ADE20K the dataset's own class 0 "other" plays that role). ``to_dontcare_first`` /
  ``from_dontcare_first``. A checkpoint trained with one convention reads its input channels in that order.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from condgen.errors import DataError

IGNORE_ID = 255  # the don't-care id in label files and batches


def _as_ids(label: Tensor, name: str = "label") -> Tensor:
    """An N x H x W int64 id map from N x H x W or N x 1 x H x W (integer or integral float) input."""
    if label.dim() == 4:
        if label.shape[1] != 1:
            raise DataError(f"a {name} map is N x H x W (or N x 1 x H x W) class ids, got shape {tuple(label.shape)}; "
                            "a one-hot or colour map is not a label map.")
        label = label[:, 0]
    if label.dim() != 3:
        raise DataError(f"a {name} map is N x H x W (or N x 1 x H x W) class ids, got shape {tuple(label.shape)}.")
    if label.is_floating_point():
        label = label.round()
    return label.long()


def check_label_ids(label: Tensor, label_nc: int, ignore_id: int = IGNORE_ID, where: str = "") -> None:
    """DataError naming the offending ids when ``label`` holds an id outside ``0..label_nc-1`` other than
    ``ignore_id`` (the SPADE users' "index out of bounds" crash, made readable)."""
    ids = _as_ids(label)
    bad = ((ids < 0) | (ids >= label_nc)) & (ids != ignore_id)
    if bool(bad.any()):
        found = torch.unique(ids[bad]).tolist()
        shown = ", ".join(map(str, found[:10])) + (" ..." if len(found) > 10 else "")
        src = f" in {where}" if where else ""
        raise DataError(f"label ids {shown}{src} are out of range: this model has label_nc={label_nc} classes "
                        f"(ids 0..{label_nc - 1}) and don't care = {ignore_id}. Raise model.label_nc (or set it to 0 "
                        "to take it from the data), or remap those ids.")


def semantic_channels(label_nc: int, dontcare_as_class: bool = False, instances: bool = False) -> int:
    """Channels of ``semantic_input``: label_nc, +1 for a don't-care class, +1 for the instance boundaries."""
    return label_nc + int(bool(dontcare_as_class)) + int(bool(instances))


def instance_edges(instance: Tensor) -> Tensor:
    """N x 1 x H x W float map, 1 where a pixel's instance id differs from one of its 4 neighbours."""
    ids = _as_ids(instance, "instance")
    edge = torch.zeros_like(ids, dtype=torch.bool)
    dx = ids[:, :, 1:] != ids[:, :, :-1]
    dy = ids[:, 1:, :] != ids[:, :-1, :]
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    edge[:, 1:, :] |= dy
    edge[:, :-1, :] |= dy
    return edge[:, None].float()


def semantic_input(label: Tensor, label_nc: int, instance: Tensor | None = None, dontcare_as_class: bool = False,
                   ignore_id: int = IGNORE_ID, check: bool = True) -> Tensor:
    """The float N x C x H x W network input of a label map: a one-hot of ``label_nc`` channels (don't-care pixels
    all zero, or an extra last channel with ``dontcare_as_class``), then the boundary channel of ``instance`` when
    given. C = ``semantic_channels(label_nc, dontcare_as_class, instance is not None)``. ``check`` raises a
    DataError for ids outside 0..label_nc-1 that are not ``ignore_id``."""
    ids = _as_ids(label)
    if check:
        check_label_ids(ids, label_nc, ignore_id)
    dontcare = ids == ignore_id
    nc = label_nc + int(bool(dontcare_as_class))
    idx = torch.where(dontcare, label_nc if dontcare_as_class else 0, ids)
    onehot = torch.zeros(ids.shape[0], nc, *ids.shape[1:], device=ids.device)
    onehot.scatter_(1, idx[:, None], 1.0)
    if not dontcare_as_class:
        onehot = onehot * (~dontcare)[:, None]
    if instance is not None:
        if instance.shape[-2:] != ids.shape[-2:]:
            raise DataError(f"the instance map is {tuple(instance.shape[-2:])} (H, W) but the label map is "
                            f"{tuple(ids.shape[-2:])}; they must be the same size.")
        onehot = torch.cat([onehot, instance_edges(instance).to(onehot.device)], 1)
    return onehot


# ----- conventions -------------------------------------------------------------------------------------------
def to_dontcare_last(label: Tensor, label_nc: int, ignore_id: int = IGNORE_ID) -> Tensor:
    """SPADE's convention: don't-care pixels (``ignore_id``) become class ``label_nc``."""
    return torch.where(label == ignore_id, torch.full_like(label, label_nc), label)


def from_dontcare_last(label: Tensor, label_nc: int, ignore_id: int = IGNORE_ID) -> Tensor:
    """Back from SPADE's convention: class ``label_nc`` becomes ``ignore_id``."""
    return torch.where(label == label_nc, torch.full_like(label, ignore_id), label)


def to_dontcare_first(label: Tensor, ignore_id: int = IGNORE_ID) -> Tensor:
    """OASIS's convention: classes shift up by one and don't care becomes class 0 (OASIS's COCO-Stuff loader)."""
    return torch.where(label == ignore_id, torch.zeros_like(label), label + 1)


def from_dontcare_first(label: Tensor, ignore_id: int = IGNORE_ID) -> Tensor:
    """Back from OASIS's convention: class 0 becomes ``ignore_id`` and the others shift down by one."""
    return torch.where(label == 0, torch.full_like(label, ignore_id), label - 1)


# ----- label maps from files and callers ---------------------------------------------------------------------
def label_ids(labels, what: str = "label") -> tuple[torch.Tensor, bool]:
    """(N x H x W int64 ids, whether the input was a single H x W map) from a PIL image of ids (modes 1, L, P, I,
    I;16) or an integer(-valued) tensor H x W / N x H x W / N x 1 x H x W. DataError for colour images."""
    if isinstance(labels, Image.Image):
        if labels.mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L"):
            raise DataError(f"a {what} map is a single-channel image of class ids (PNG mode L or P); got mode "
                            f"{labels.mode} (a colour-coded map?). Convert each colour to its class id and save it as "
                            "a grey (L) or palette (P) PNG.")
        return torch.from_numpy(np.asarray(labels).astype(np.int64))[None], True
    x = torch.as_tensor(labels)
    squeeze = x.dim() == 2
    if squeeze:
        x = x[None]
    if x.dim() == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 3:
        raise DataError(f"a {what} map is an H x W, N x H x W or N x 1 x H x W tensor of ids; got shape "
                        f"{tuple(x.shape)}.")
    if x.is_floating_point():
        if not torch.equal(x, x.round()):
            raise DataError(f"the {what} map holds non-integer values; it must hold class ids.")
    return x.long(), squeeze


# ----- looking at label maps ---------------------------------------------------------------------------------
def label_palette(n: int) -> Tensor:
    """n x 3 uint8 colours, one per class: the PASCAL VOC bit-interleaving palette shifted by one, so class 0 is
    dark red rather than black and black is left for don't care. Distinct for every n up to 255."""
    out = torch.zeros(n, 3, dtype=torch.uint8)
    for k in range(n):
        c, r, g, b = k + 1, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[k] = torch.tensor([r, g, b], dtype=torch.uint8)
    return out


def colorize(label: Tensor, label_nc: int, ignore_id: int = IGNORE_ID) -> Tensor:
    """A label map (N x H x W ids) as N x 3 x H x W float images in [-1, 1] with ``label_palette`` colours;
    don't-care (and any out-of-range id) is black."""
    ids = _as_ids(label).cpu()
    pal = torch.cat([label_palette(label_nc), torch.zeros(1, 3, dtype=torch.uint8)]).float()
    idx = torch.where((ids >= 0) & (ids < label_nc) & (ids != ignore_id), ids, label_nc)
    return (pal[idx].permute(0, 3, 1, 2) / 127.5 - 1.0).contiguous()


__all__ = ["IGNORE_ID", "check_label_ids", "colorize", "from_dontcare_first", "from_dontcare_last", "instance_edges",
           "label_ids", "label_palette", "semantic_channels", "semantic_input", "to_dontcare_first", "to_dontcare_last"]
