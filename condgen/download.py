"""Opt-in downloads: pretrained weights the losses and metrics need, the authors' published checkpoints (imported
into a run folder) and the datasets in the layouts of junyanz/pytorch-CycleGAN-and-pix2pix.

Nothing here runs unless a user types ``condgen download NAME`` or ``condgen data download NAME``: condgen never
downloads at import, at training or in its tests. A download shows a progress bar, resumes a partial file
(``FILE.part``, HTTP Range), prints the file's SHA-256 and checks it where the publisher gives one (torchvision's
hash prefix in its file names), and says clearly when the network cannot be reached. ``--mirror URL`` fetches
the same paths from another host (a local mirror, or a test server).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from condgen.errors import CondgenError, DataError

JUNYANZ = "http://efrosgans.eecs.berkeley.edu"
NONCOMMERCIAL_DATA = "code BSD; trained on data under its own terms (check before commercial use)"


class DownloadError(CondgenError):
    """A download that could not be made: no network, a server error, a checksum mismatch, a manual-only file."""


@dataclass(frozen=True)
class Item:
    """One downloadable thing: where it comes from, what it is, and where it goes."""

    name: str
    kind: str  # "weights" (torch hub cache), "checkpoint" (imported into a run), "dataset" (extracted folder)
    paper: str
    dataset: str
    size: str
    licence: str
    url: str = ""  # empty: the authors host it where a script cannot fetch it (see page)
    page: str = ""
    file: str = ""  # the name to save it under (default: the URL's last part)
    hash_prefix: str = ""  # leading hex digits of the SHA-256, as the publisher names the file
    import_format: str = ""  # checkpoints: condgen import-weights --format
    member: str = ""  # checkpoints inside an archive: the member to import

    @property
    def filename(self) -> str:
        """The file name the download is saved under."""
        return self.file or Path(urllib.parse.urlparse(self.url).path).name


def _catalog() -> dict[str, Item]:
    items: list[Item] = [
        Item("vgg16", "weights", "Simonyan & Zisserman 2015", "ImageNet", "528 MB",
             "BSD-3 (torchvision); ImageNet-trained", "https://download.pytorch.org/models/vgg16-397923af.pth",
             "https://pytorch.org/vision/stable/models.html", hash_prefix="397923af"),
        Item("vgg19", "weights", "Simonyan & Zisserman 2015", "ImageNet", "548 MB",
             "BSD-3 (torchvision); ImageNet-trained", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
             "https://pytorch.org/vision/stable/models.html", hash_prefix="dcbb9e9d"),
        Item("inception-fid", "weights", "Szegedy et al. 2016 (FID: Heusel et al. 2017)", "ImageNet", "91 MB",
             "Apache-2.0 (torch-fidelity's port of TF inception-2015-12-05)",
             "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
             "weights-inception-2015-12-05-6726825d.pth", "https://github.com/toshas/torch-fidelity"),
    ]
    for name in ("edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night"):
        items.append(Item(f"pix2pix-{name}", "checkpoint", "Isola et al. 2017", name.split("_")[0], "208 MB",
                          NONCOMMERCIAL_DATA, f"{JUNYANZ}/pix2pix/models-pytorch/{name}.pth",
                          "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix", file=f"pix2pix_{name}.pth",
                          import_format="junyanz"))
    for name in ("apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra",
                 "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh",
                 "sat2map", "map2sat", "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label",
                 "facades_label2photo", "iphone2dslr_flower"):
        items.append(Item(f"cyclegan-{name}", "checkpoint", "Zhu et al. 2017", name, "44 MB", NONCOMMERCIAL_DATA,
                          f"{JUNYANZ}/cyclegan/pretrained_models/{name}.pth",
                          "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix", file=f"cyclegan_{name}.pth",
                          import_format="junyanz"))
    for style in ("candy", "mosaic", "rain_princess", "udnie"):
        items.append(Item(f"fast-neural-style-{style}", "checkpoint", "Johnson et al. 2016", "COCO 2014 + one style",
                          "7 MB (zip of four: 27 MB)", "BSD-3 (pytorch/examples)",
                          "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1",
                          "https://github.com/pytorch/examples/tree/main/fast_neural_style",
                          file="fast_neural_style_saved_models.zip", import_format="fast-neural-style",
                          member=f"saved_models/{style}.pth"))
    manual = [("spade", "Park et al. 2019", "COCO-Stuff, ADE20K, Cityscapes", "https://github.com/NVlabs/SPADE",
               "CC BY-NC-SA 4.0 (non-commercial)"),
              ("oasis", "Schönfeld et al. 2021", "ADE20K, Cityscapes, COCO-Stuff", "https://github.com/boschresearch/OASIS",
               "AGPL-3.0"),
              ("sean", "Zhu et al. 2020", "CelebAMask-HQ", "https://github.com/ZPdesu/SEAN",
               "CC BY-NC-SA 4.0 (non-commercial)"),
              ("munit", "Huang et al. 2018", "edges2shoes, summer2winter", "https://github.com/NVlabs/MUNIT",
               "CC BY-NC-SA 4.0 (non-commercial)"),
              ("unit", "Liu et al. 2017", "version_02 experiments", "https://github.com/mingyuliutw/UNIT",
               "CC BY-NC-SA 4.0 (non-commercial)")]
    for fmt, paper, data, page, lic in manual:
        items.append(Item(fmt, "checkpoint", paper, data, "-", lic, page=page, import_format=fmt))
    for name, size in (("facades", "29 MB"), ("maps", "239 MB"), ("edges2shoes", "2.2 GB"),
                       ("edges2handbags", "8 GB"), ("night2day", "-")):
        items.append(Item(name, "dataset", "Isola et al. 2017 (pix2pix)", name, size,
                          "research use; each source dataset's own terms", f"{JUNYANZ}/pix2pix/datasets/{name}.tar.gz",
                          "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix"))
    for name, size in (("horse2zebra", "111 MB"), ("apple2orange", "75 MB"), ("summer2winter_yosemite", "-"),
                       ("monet2photo", "-"), ("cezanne2photo", "-"), ("ukiyoe2photo", "-"), ("vangogh2photo", "-"),
                       ("iphone2dslr_flower", "-"), ("cyclegan-maps", "-"), ("cyclegan-facades", "-")):
        file = name.removeprefix("cyclegan-")
        items.append(Item(name, "dataset", "Zhu et al. 2017 (CycleGAN)", file, size,
                          "research use; ImageNet / Flickr / WikiArt terms", f"{JUNYANZ}/cyclegan/datasets/{file}.zip",
                          "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix", file=f"cyclegan_{file}.zip"))
    return {i.name: i for i in items}


CATALOG = _catalog()


def listing(datasets: bool) -> str:
    """The catalogue as a text table (name, kind, paper, dataset, size, licence): the datasets, or the rest."""
    rows = [i for i in CATALOG.values() if (i.kind == "dataset") == datasets]
    width = max(len(i.name) for i in rows)
    lines = [f"{'name':{width}s}  {'kind':10s}  {'paper':28s}  {'dataset':22s}  {'size':10s}  licence"]
    for i in rows:
        how = "" if i.url else "  [manual: " + i.page + "]"
        lines.append(f"{i.name:{width}s}  {i.kind:10s}  {i.paper[:28]:28s}  {i.dataset[:22]:22s}  {i.size[:10]:10s}  "
                     f"{i.licence}{how}")
    return "\n".join(lines)


def lookup(name: str, datasets: bool) -> Item:
    """The catalogue entry ``name`` among the datasets (or the weights and checkpoints), or a DownloadError
    listing the names there are."""
    item = CATALOG.get(name)
    if item is None or (item.kind == "dataset") != datasets:
        names = sorted(n for n, i in CATALOG.items() if (i.kind == "dataset") == datasets)
        raise DownloadError(f"nothing called {name!r} to download; choose one of: {', '.join(names)} "
                            "(`condgen download --list` shows what each is).")
    return item


# ----- fetching ----------------------------------------------------------------------------------------------
def _mirrored(url: str, mirror: str | None) -> str:
    if not mirror:
        return url
    parts = urllib.parse.urlparse(url)
    return mirror.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def fetch(url: str, dest: Path, hash_prefix: str = "", progress: bool = True, timeout: float = 30.0) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), check the SHA-256 prefix if given, return the
    SHA-256. ``dest`` appears only when complete and checked."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "condgen", **({"Range": f"bytes={have}-"} if have else {})}
    req = urllib.request.Request(url, headers=headers)
    host = urllib.parse.urlparse(url).netloc
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the part file already holds everything
            resp = None
        else:
            raise DownloadError(f"{host} answered {e.code} ({e.reason}) for {url}; the file may have moved: see "
                                "the authors' page (`condgen download --list`).") from None
    except (TimeoutError, urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"could not reach {host} ({reason}): this machine seems to be offline or the host is "
                            f"blocked. Download {url} another way and put it at {dest}, or use --mirror.") from None
    if resp is not None:
        with resp:
            if have and resp.status != 206:  # the server ignored the range: start again
                have = 0
            total = resp.length + have if resp.length is not None else None
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, dynamic_ncols=True)
            try:
                with open(part, "ab" if have else "wb") as f:
                    while chunk := resp.read(1 << 20):
                        f.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                got = part.stat().st_size
                if total is not None and got < total:  # the connection ended early, without an error
                    raise OSError(f"{got} of {total} bytes received")
            except (TimeoutError, OSError, http.client.HTTPException) as e:
                raise DownloadError(f"the download of {url} stopped ({e}); run the same command again to resume "
                                    f"it from {part.stat().st_size if part.exists() else 0} bytes.") from None
            finally:
                if bar is not None:
                    bar.close()
    sha = _sha256(part)
    if hash_prefix and not sha.startswith(hash_prefix):
        part.unlink(missing_ok=True)
        raise DownloadError(f"{dest.name} is damaged: its SHA-256 {sha} does not start with {hash_prefix}, as the "
                            "publisher's file name says. It was deleted; run the command again.")
    os.replace(part, dest)
    return sha


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract a zip or tar.gz into ``dest``, refusing members that would land outside it or are links."""
    dest = dest.resolve()

    def inside(name: str) -> Path:
        target = (dest / name).resolve()
        if target != dest and dest not in target.parents:
            raise DownloadError(f"{archive.name} holds {name!r}, a path outside the folder: refused, nothing "
                                "extracted from it.")
        return target

    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                inside(info.filename)
            z.extractall(dest)
    else:
        with tarfile.open(archive, "r:*") as t:
            members = t.getmembers()
            for m in members:
                inside(m.name)
                if not (m.isfile() or m.isdir()):
                    raise DownloadError(f"{archive.name} holds {m.name!r}, which is not a plain file: refused.")
            t.extractall(dest, members=members)


def download_dir() -> Path:
    """Where downloaded archives and checkpoints are kept: ``<condgen cache>/downloads``."""
    from condgen.data.builtin import cache_dir

    return cache_dir() / "downloads"


def download(name: str, out: str | Path | None = None, mirror: str | None = None, progress: bool = True,
             datasets: bool = False) -> tuple[Item, Path, str]:
    """Fetch catalogue item ``name``; weights go to the torch hub cache, checkpoints are imported into the run
    folder ``out`` (default runs/NAME), datasets are extracted into ``out`` (default datasets/). Returns (item,
    where it went, SHA-256)."""
    item = lookup(name, datasets)
    if not item.url:
        raise DownloadError(f"{item.name}: the authors publish these checkpoints on a page a script cannot download "
                            f"from ({item.page}, see its README). Download the file in a browser, then: condgen "
                            f"import-weights FILE --format {item.import_format} --out runs/{item.name} "
                            "(docs/pretrained.md lists each file).")
    url = _mirrored(item.url, mirror)
    if item.kind == "weights":
        import torch

        dest = Path(torch.hub.get_dir()) / "checkpoints" / item.filename
        if dest.is_file():
            return item, dest, _sha256(dest)
        return item, dest, fetch(url, dest, item.hash_prefix, progress)
    saved = download_dir() / item.filename
    sha = _sha256(saved) if saved.is_file() else fetch(url, saved, item.hash_prefix, progress)
    if item.kind == "dataset":
        target = Path(out) if out is not None else Path("datasets")
        _safe_extract(saved, target)
        return item, target / item.dataset, sha
    return item, _import(item, saved, Path(out) if out is not None else Path("runs") / item.name), sha


def _import(item: Item, saved: Path, out: Path) -> Path:
    """Import a downloaded checkpoint (the archive member for zips) into the run folder ``out``."""
    from condgen.importers.to_run import import_pix2pix

    path = saved
    if item.member:
        folder = saved.with_suffix("")
        if not (folder / item.member).is_file():
            _safe_extract(saved, folder)
        path = folder / item.member
        if not path.is_file():
            raise DataError(f"{saved.name} has no {item.member}; the archive may have changed: see {item.page}.")
    if item.import_format == "fast-neural-style":
        from condgen.importers.fast_neural_style import import_fast_neural_style

        import_fast_neural_style(path, out)
    else:
        import_pix2pix(path, out)  # one junyanz generator (a CycleGAN direction imports the same way)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


__all__ = ["CATALOG", "DownloadError", "Item", "download", "download_dir", "fetch", "listing", "lookup"]
