"""Real face datasets behind the same interface as the synthetic world.

Every loader returns :class:`FaceFolderSet` objects: a file-backed
``torch.utils.data.Dataset`` with ``paths``, ``labels`` (int64, contiguous
``0..C-1``, ``-1`` = unlabelled), ``identities`` (``identities[label]`` is the
name), ``num_classes``, ``role`` and ``skipped`` (``(path, reason)`` pairs).
``set[i]`` is ``(image, label, i)`` with ``image`` a float tensor in
``[-1, 1]`` of shape ``(3, S, S)``: grey, RGB, RGBA and palette files all come
out as 3-channel RGB, resized (bicubic, no aspect-ratio padding: face crops are
already aligned) to ``image_size`` (32 by default, 112 at paper scale).

Every file is opened and decoded once when a set is built, so a corrupt or
non-image file is counted and reported in ``skipped`` instead of failing half
way through an epoch; a file that vanishes or changes after that is skipped when
read and counted in ``skipped`` too. Folder links are followed, but never into a
folder already scanned (no loop, no image listed twice). 16-bit grey images are
scaled by their bit depth (``/ 65535``), never by their own maximum. Hidden files
and folders (names starting with ``.``) are ignored silently. Folder names are
matched case-insensitively (the SurvFace archive spells ``training_set`` where its
README says ``Training_Set``).

Layouts accepted (checked against the official releases' READMEs and public
evaluation code; ``root`` may be the dataset folder itself or its parent):

TinyFace (``load_tinyface``)::

    tinyface/Training_Set/<identity>/<identity>_<n>.jpg      -> "train"
    tinyface/Testing_Set/Gallery_Match/<identity>_<n>.jpg    -> "gallery"
    tinyface/Testing_Set/Gallery_Distractor/**.jpg           -> "distractor" (label -1)
    tinyface/Testing_Set/Probe/<identity>_<n>.jpg            -> "probe"

  or the flat form with ``Gallery_Match``, ``Gallery_Distractor``, ``Probe``
  (and ``Training_Set`` or ``Train``) directly under ``root``, as aligned
  copies are usually stored. Test identity = file-name prefix before the first
  ``_``; gallery and probe share one label space. The official
  ``*_img_ID_pairs.mat`` files carry the same ids and are not needed.

SCface (``load_scface``)::

    SCface_database/mugshot_frontal_cropped_all/<id>_frontal.JPG   -> "gallery"
        (or mugshot_frontal_original_all/ when the cropped one is absent)
    SCface_database/surveillance_cameras_distance_<d>/cam_<c>/<id>_cam<c>_<d>.jpg
        (or the flat surveillance_cameras_all/<id>_cam<c>_<d>.jpg)
        -> "probe_4.2m" (d=1), "probe_2.6m" (d=2), "probe_1.0m" (d=3)

  Only the visible-light cameras cam1-cam5 are probes; the infrared cam6/cam7
  images are listed in ``skipped`` as excluded by the protocol, and the IR
  mugshots (``surveillance_cameras_IR_cam8``) and ``mugshot_rotation_all``
  are not read. Identity = the subject number before the first ``_``; all
  four sets share the gallery's label space.

QMUL-SurvFace (``load_survface``, ``load_survface_pairs``)::

    QMUL-SurvFace/Training_Set/<person id>/<person id>_<cam>_<n>.jpg  -> "train"
    QMUL-SurvFace/Face_Identification_Test_Set/gallery/*.jpg          -> "gallery"
    QMUL-SurvFace/Face_Identification_Test_Set/mated_probe/*.jpg      -> "probe"
    QMUL-SurvFace/Face_Identification_Test_Set/unmated_probe/*.jpg    -> "unmated" (label -1)
    QMUL-SurvFace/Face_Identification_Test_Set/gallery_img_ID_pairs.mat
        (keys gallery_set, gallery_ids) and mated_probe_img_ID_pairs.mat
        (keys mated_probe_set, mated_probe_ids); also looked for in
        Face_Identification_Evaluation/. A ``.txt`` with "name id" lines is
        accepted in place of either ``.mat``.
    QMUL-SurvFace/Face_Verification_Test_Set/verification_images/*.jpg
    QMUL-SurvFace/Face_Verification_Test_Set/positive_pairs_names.mat
    QMUL-SurvFace/Face_Verification_Test_Set/negative_pairs_names.mat
        (an (N, 2) cell of file names each; ``.txt`` with two names a line
        is accepted too)

  Identity = the global person id before the first ``_`` of the file name:
  the same namespace as the Training_Set folder names, which is what makes
  the train/test disjointness check meaningful (the ids inside the ``.mat``
  lists are a separate 1..N numbering). When the ``.mat`` lists are present
  they decide which files belong to gallery/probe, and their ids are checked
  to map one-to-one onto the file-name person ids; without them every image
  in the folder is used, labelled by its file name.

Unlabelled UI crops (``load_ui_folder``): any folder, searched recursively.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

from ..common.checks import RIEInputError

# torchvision's list: .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp (ORL faces are .pgm)
IMAGE_EXTENSIONS = IMG_EXTENSIONS

# SCface distance suffix -> probe key (suffix 1 is the farthest camera position)
SCFACE_DISTANCES = {1: "probe_4.2m", 2: "probe_2.6m", 3: "probe_1.0m"}
SCFACE_VISIBLE_CAMERAS = (1, 2, 3, 4, 5)

_SUMMARY_MAX_SKIPS = 10

# Why a file that passed the scan was skipped when its item was read (codes in FaceFolderSet._late)
_VANISHED, _CHANGED, _UNDECODABLE = 1, 2, 3
_LATE_REASONS = {
    _VANISHED: "vanished after the scan (skipped when read)",
    _CHANGED: "changed after the scan: size or modification time differs (skipped when read)",
    _UNDECODABLE: "no longer decodes (skipped when read)",
}


# ----------------------------------------------------------------------------- images


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit RGB: grey, 16-bit grey, palette, CMYK, and alpha (composited over black)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        # 16-bit grey (PNG, TIFF: "I;16"; PGM: "I", which PIL rescales from any maxval to 16 bits)
        # is scaled by its bit depth, floats ("F") are taken as [0, 1]. Never by the image's own
        # maximum: that would load one pixel value at two brightnesses in two files.
        arr = np.asarray(img, dtype=np.float32)
        top = 1.0 if img.mode == "F" else 65535.0
        grey = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return img.convert("RGB")


class FaceTransform:
    """PIL image -> float tensor (3, S, S) in [-1, 1]: RGB, bicubic resize, x / 127.5 - 1.

    A class rather than a lambda so DataLoader workers can pickle it.
    """

    def __init__(self, image_size: int = 32):
        self.image_size = _check_image_size(image_size)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        img = to_rgb(img)
        size = (self.image_size, self.image_size)
        if img.size != size:
            img = img.resize(size, Image.BICUBIC)  # PIL filters when shrinking, so no aliasing
        arr = np.array(img, dtype=np.uint8)  # (S, S, 3), a writable copy
        return torch.from_numpy(arr).permute(2, 0, 1).float().div_(127.5).sub_(1.0)

    def __repr__(self) -> str:
        return f"FaceTransform(image_size={self.image_size})"


def _check_image_size(image_size) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise RIEInputError(f"image_size must be a positive integer, got {image_size!r}")
    return int(image_size)


def _stamp(path: str) -> tuple[int, int]:
    """(size, modification time in ns): what tells a file rewritten after the scan."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def check_image_file(path: str) -> tuple[str | None, tuple[int, int] | None, str | None]:
    """Open, verify and fully decode one file: ``(mode, size, None)`` or ``(None, None, reason)``.

    ``verify`` catches broken structure (PNG checksums); the full decode catches
    truncated JPEGs, which ``verify`` lets through. Both are cheap on face crops.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. palette-transparency notes: not a defect
            with Image.open(path) as im:
                im.verify()
            with Image.open(path) as im:
                im.load()
                mode, size = im.mode, im.size
                # a float image (32-bit TIFF) can hold NaN, which the uint8 conversion turns into
                # an arbitrary grey: refuse it here, where it is named, not inside a batch
                finite = mode != "F" or bool(np.isfinite(np.asarray(im)).all())
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        return None, None, f"not a readable image ({type(exc).__name__}: {exc})"
    if not finite:
        return None, None, "float image with NaN or inf pixels"
    if size[0] < 1 or size[1] < 1:
        return None, None, f"empty image (size {size})"
    return mode, size, None


# ----------------------------------------------------------------------------- the set


class FaceFolderSet(Dataset):
    """A file-backed face set: the real-data counterpart of the synthetic ``FaceSet``.

    samples:    ``(path, identity name or None)`` pairs; ``None`` means unlabelled (label -1).
    identities: the label space (``identities[label]`` is the name). Pass the same
                list to sets that must share labels (gallery and probe); by default
                it is the sorted names of the samples that survived validation.
    skipped:    ``(path, reason)`` found while scanning; unreadable files are added here,
                and so is a file that vanishes, changes or stops decoding after the scan
                (found when an item is read, in this process or a DataLoader worker).
    validate:   decode every file now (default) so nothing fails mid-epoch.
    transform:  replaces the default :class:`FaceTransform` (e.g. to add augmentation).

    A file found bad when its item is read is replaced by the next readable file
    (``set[i]`` then returns that file's image, label and index ``j``, so the three
    always agree), and counted in ``skipped``. The flags live in a shared-memory
    tensor, so skips seen by DataLoader workers reach the main process's ``skipped``.
    """

    def __init__(
        self,
        samples: Iterable[tuple[str, str | None]],
        *,
        image_size: int = 32,
        role: str = "train",
        identities: Sequence[str] | None = None,
        skipped: Iterable[tuple[str, str]] = (),
        validate: bool = True,
        transform: Callable | None = None,
        name: str = "",
    ):
        self.image_size = _check_image_size(image_size)
        self.role = str(role)
        self.name = name or self.role
        self._scan_skipped: list[tuple[str, str]] = [(str(p), str(r)) for p, r in skipped]
        self.modes: Counter = Counter()
        self.sizes: Counter = Counter()

        kept: list[tuple[str, str | None]] = []
        stamps: list[tuple[int, int]] = []
        for path, identity in samples:
            path = str(path)
            stamp = (-1, -1)  # unknown: only a vanished or undecodable file is caught later
            if validate:
                try:
                    stamp = _stamp(path)  # taken before the decode: a change during it is caught later
                except OSError as exc:
                    self._scan_skipped.append((path, f"cannot read ({type(exc).__name__}: {exc})"))
                    continue
                mode, size, reason = check_image_file(path)
                if reason is not None:
                    self._scan_skipped.append((path, reason))
                    continue
                self.modes[mode] += 1
                self.sizes[size] += 1
            kept.append((path, None if identity is None else str(identity)))
            stamps.append(stamp)

        if not kept:
            raise RIEInputError(
                f"{self.name}: no usable images ({len(self._scan_skipped)} files skipped)"
                + _format_skips(self._scan_skipped, indent="\n  ")
            )

        if identities is None:
            identities = sorted({ident for _, ident in kept if ident is not None})
        self.identities: list[str] = [str(i) for i in identities]
        if len(set(self.identities)) != len(self.identities):
            raise RIEInputError(f"{self.name}: identities contain duplicates")
        index = {ident: k for k, ident in enumerate(self.identities)}
        missing = sorted({ident for _, ident in kept if ident is not None and ident not in index})
        if missing:
            raise RIEInputError(f"{self.name}: identities {missing[:5]} are not in the given label space")

        self.paths: list[str] = [p for p, _ in kept]
        self.labels = torch.tensor([-1 if ident is None else index[ident] for _, ident in kept], dtype=torch.int64)
        self.transform = transform if transform is not None else FaceTransform(self.image_size)
        self._stamps = torch.tensor(stamps, dtype=torch.int64).reshape(-1, 2)
        # 0 = fine, else a _LATE_REASONS code; shared memory so that DataLoader workers'
        # findings are seen here (a plain attribute would change only the worker's copy)
        self._late = torch.zeros(len(self.paths), dtype=torch.uint8).share_memory_()

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """``(path, reason)``: the scan's skips, then files found bad when read."""
        late = [(self.paths[j], _LATE_REASONS[int(self._late[j])]) for j in self._late.nonzero().flatten().tolist()]
        return self._scan_skipped + late

    @property
    def num_classes(self) -> int:
        return len(self.identities)

    def present_identities(self) -> set[str]:
        """Names of the identities that have at least one image in this set."""
        return {self.identities[k] for k in self.labels[self.labels >= 0].unique().tolist()}

    def relabel(self, identities: Sequence[str]) -> None:
        """Move this set onto another label space (a superset of its identities), keeping names."""
        identities = [str(i) for i in identities]
        index = {ident: k for k, ident in enumerate(identities)}
        names = [None if k < 0 else self.identities[k] for k in self.labels.tolist()]
        missing = sorted({n for n in names if n is not None and n not in index})
        if missing:
            raise RIEInputError(f"{self.name}: identities {missing[:5]} are not in the new label space")
        self.identities = identities
        self.labels = torch.tensor([-1 if n is None else index[n] for n in names], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        n = len(self.paths)
        if not -n <= i < n:
            raise IndexError(f"{self.name}: index {i} out of range for {n} images")
        i %= n
        for k in range(n):  # the next readable file stands in for a bad one, counted in skipped
            j = (i + k) % n
            if self._late[j]:
                continue
            im = self._read(j)
            if im is not None:
                return self.transform(im), int(self.labels[j]), j
        raise RIEInputError(
            f"{self.name}: none of the {n} files can be read any more (all vanished or changed since the scan)"
            + _format_skips(self.skipped, indent="\n  ")
        )

    def _read(self, j: int) -> Image.Image | None:
        """The decoded file ``j``, or None after flagging it (vanished, changed, no longer decodes)."""
        path = self.paths[j]
        try:
            stamp = _stamp(path)
        except OSError:
            self._late[j] = _VANISHED
            return None
        if self._stamps[j, 0] >= 0 and stamp != tuple(self._stamps[j].tolist()):
            self._late[j] = _CHANGED
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as im:
                    im.load()  # the full decode here: the pixels stay usable once the file is closed
        except Exception:  # PIL raises many types; the transform runs outside, so its bugs still raise
            self._late[j] = _UNDECODABLE
            return None
        return im

    def summary(self) -> str:
        """A few lines: counts, identities, image modes and sizes, skipped files with reasons."""
        labelled = int((self.labels >= 0).sum())
        present = len(self.present_identities())
        lines = [
            f"{self.name} (role {self.role}): {len(self)} images, {labelled} labelled, "
            f"{len(self) - labelled} unlabelled; {present} identities with images "
            f"(label space {self.num_classes})"
        ]
        if labelled:
            counts = torch.bincount(self.labels[self.labels >= 0], minlength=self.num_classes)
            counts = counts[counts > 0]
            lines.append(f"  images per identity: min {int(counts.min())}, max {int(counts.max())}")
        if self.modes:
            modes = ", ".join(f"{m}={n}" for m, n in sorted(self.modes.items()))
            widths = [w for w, _ in self.sizes]
            heights = [h for _, h in self.sizes]
            lines.append(
                f"  source modes: {modes}; sizes {min(widths)}-{max(widths)} x {min(heights)}-{max(heights)} px"
                f" -> (3, {self.image_size}, {self.image_size}) in [-1, 1]"
            )
        lines.append(f"  skipped {len(self.skipped)}" + _format_skips(self.skipped, indent="\n    "))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"FaceFolderSet({self.name!r}, role={self.role!r}, n={len(self)}, classes={self.num_classes})"


def _format_skips(skipped: Sequence[tuple[str, str]], indent: str) -> str:
    shown = [f"{indent}{p}: {r}" for p, r in skipped[:_SUMMARY_MAX_SKIPS]]
    if len(skipped) > _SUMMARY_MAX_SKIPS:
        shown.append(f"{indent}... and {len(skipped) - _SUMMARY_MAX_SKIPS} more (see .skipped)")
    return "".join(shown)


def check_disjoint(train_set: FaceFolderSet, *test_sets: FaceFolderSet) -> None:
    """Raise if any identity with images in ``train_set`` also has images in a test set.

    A shared identity turns an open-set test into a partly closed-set one and
    inflates every number; unlabelled images (label -1) never count.
    """
    train_ids = train_set.present_identities()
    problems = []
    for test in test_sets:
        shared = sorted(train_ids & test.present_identities())
        if shared:
            more = f" and {len(shared) - 10} more" if len(shared) > 10 else ""
            problems.append(f"{test.name}: {len(shared)} shared ({', '.join(shared[:10])}{more})")
    if problems:
        raise RIEInputError(
            f"identities present in both {train_set.name} and a test set: " + "; ".join(problems)
        )


# ----------------------------------------------------------------------------- scanning


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _is_image_name(name: str) -> bool:
    return has_file_allowed_extension(name, IMAGE_EXTENSIONS)


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        kind = "a file, not a folder" if path.exists() else "missing"
        raise RIEInputError(f"{what}: expected folder {path} ({kind})")
    return path


def _child_dir(parent: Path, *names: str) -> Path | None:
    """The first sub-folder of ``parent`` whose name matches one of ``names``, ignoring case."""
    if not parent.is_dir():
        return None
    children = {c.name.lower(): c for c in sorted(parent.iterdir()) if c.is_dir()}
    for name in names:
        if name.lower() in children:
            return children[name.lower()]
    return None


def _walk_files(folder: Path, skipped: list, visited: set | None = None) -> list[Path]:
    """All non-hidden files under ``folder``, recursively, in a stable (sorted) order.

    Links are followed (datasets are often assembled from links), but never into a folder
    already visited or one that contains ``folder``, by real path: a loop (``alice/up -> ..``)
    or a second route to a folder would otherwise list its images again, under the wrong
    identity. Such links and unlistable folders go to ``skipped``. ``visited`` is shared by
    the walks of one scan.
    """
    visited = set() if visited is None else visited
    top = os.path.realpath(folder)
    visited.add(top)
    found = []

    def unlistable(exc: OSError) -> None:
        skipped.append((str(exc.filename), f"cannot list folder ({type(exc).__name__}: {exc.strerror})"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unlistable, followlinks=True):
        keep = []
        for d in sorted(d for d in dirnames if not _is_hidden(d)):
            real = os.path.realpath(os.path.join(dirpath, d))
            if real in visited or top.startswith(real.rstrip(os.sep) + os.sep):  # seen, or holds the top: a loop
                reason = "link to a folder already scanned (a loop or a second route): not followed"
                skipped.append((os.path.join(dirpath, d), reason))
                continue
            visited.add(real)
            keep.append(d)
        dirnames[:] = keep
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not _is_hidden(f))
    return found


def _scan_flat(folder: Path, identity_of: Callable[[str], str | None] | None, visited: set | None = None):
    """Images under ``folder`` (recursive). ``identity_of(file name)`` gives the identity,
    ``None`` to skip the file; pass ``identity_of=None`` for unlabelled images."""
    samples, skipped = [], []
    for path in _walk_files(folder, skipped, visited):
        if not _is_image_name(path.name):
            skipped.append((str(path), f"not an image file extension ({path.suffix or 'none'})"))
            continue
        if identity_of is None:
            samples.append((str(path), None))
            continue
        identity = identity_of(path.name)
        if identity is None:
            skipped.append((str(path), "cannot read the identity from the file name (expected <id>_<rest>)"))
        else:
            samples.append((str(path), identity))
    return samples, skipped


def _scan_identity_folders(root: Path):
    """ImageFolder convention: one sub-folder per identity (name = identity), images inside
    (recursively). Files at the top level and empty identity folders go to ``skipped``."""
    samples, skipped = [], []
    entries = [e for e in sorted(root.iterdir()) if not _is_hidden(e.name)]
    # The root and every identity folder count as visited before any walk starts, so that
    # no link inside one identity (alice/up -> .., alice/b -> ../bob) pulls in another's images.
    visited = {os.path.realpath(root)}
    folders = []
    for entry in entries:
        if not entry.is_dir():
            skipped.append((str(entry), "file at the top level, not inside an identity folder"))
            continue
        real = os.path.realpath(entry)
        if real in visited:
            skipped.append((str(entry), "link to a folder already scanned (a second name for one identity): not followed"))
            continue
        visited.add(real)
        folders.append(entry)
    for entry in folders:
        found, bad = _scan_flat(entry, identity_of=lambda _name, ident=entry.name: ident, visited=visited)
        skipped.extend(bad)
        if not found:
            skipped.append((str(entry), "empty identity folder (no image files)"))
        samples.extend(found)
    return samples, skipped


def _prefix_identity(file_name: str) -> str | None:
    """``'1_3.jpg' -> '1'``: the part before the first underscore (None if there is none)."""
    stem = Path(file_name).stem
    head, sep, _ = stem.partition("_")
    return head if sep and head else None


# ----------------------------------------------------------------------------- generic loaders


def load_image_folder(root, image_size: int = 32, role: str = "train", name: str = "") -> FaceFolderSet:
    """An ImageFolder-style tree (``root/<identity>/<images>``) as a :class:`FaceFolderSet`.

    Identity order follows torchvision's ``ImageFolder`` (sorted folder names),
    so labels agree with ``ImageFolder(root).class_to_idx``. Non-image files,
    files at the top level (e.g. a README) and empty identity folders are
    listed in ``.skipped``; it is an error only if there is no image at all.
    """
    root = _require_dir(Path(root), name or "image folder")
    samples, skipped = _scan_identity_folders(root)
    if not samples and not any(c.is_dir() for c in root.iterdir() if not _is_hidden(c.name)):
        raise RIEInputError(f"{name or 'image folder'}: expected one sub-folder per identity in {root}, found none")
    return FaceFolderSet(samples, image_size=image_size, role=role, skipped=skipped, name=name or root.name)


def load_ui_folder(root, image_size: int = 32, name: str = "") -> FaceFolderSet:
    """Unlabelled UI crops: every image under ``root`` (recursively), all labels -1."""
    root = _require_dir(Path(root), name or "UI folder")
    samples, skipped = _scan_flat(root, identity_of=None)
    return FaceFolderSet(samples, image_size=image_size, role="ui", skipped=skipped, name=name or root.name)


# ----------------------------------------------------------------------------- TinyFace


def _dataset_base(root: Path, subfolders: Sequence[str], markers: Sequence[str]) -> Path:
    """``root`` itself or its official sub-folder (e.g. ``tinyface``), whichever holds a marker folder."""
    for base in [root] + [c for c in (_child_dir(root, s) for s in subfolders) if c is not None]:
        if any(_child_dir(base, m) is not None for m in markers):
            return base
    return root


def load_tinyface(root, image_size: int = 32, check_identities: bool = True,
                  require_train: bool = True) -> dict[str, FaceFolderSet]:
    """TinyFace: ``{"train", "gallery", "distractor", "probe"}`` (layouts in the module docstring).

    Gallery and probe share one label space; distractors are unlabelled (-1).
    ``check_disjoint`` is called on train vs gallery and probe; set
    ``check_identities=False`` only for a copy whose training folders are
    numbered independently of the test file names. ``require_train=False`` accepts a
    copy of the test split alone (no ``"train"`` key then), as evaluation needs.
    """
    root = _require_dir(Path(root), "TinyFace")
    base = _dataset_base(root, ("tinyface", "TinyFace"), ("Testing_Set", "Gallery_Match", "Training_Set"))
    test_dir = _child_dir(base, "Testing_Set") or base
    folders = {}
    for key, folder in (("gallery", "Gallery_Match"), ("distractor", "Gallery_Distractor"), ("probe", "Probe")):
        found = _child_dir(test_dir, folder)
        folders[key] = _require_dir(found or test_dir / folder, "TinyFace")
    train_dir = _child_dir(base, "Training_Set", "Train")
    if require_train or train_dir is not None:
        train_dir = _require_dir(train_dir or base / "Training_Set", "TinyFace")

    gallery, g_skip = _scan_flat(folders["gallery"], _prefix_identity)
    probe, p_skip = _scan_flat(folders["probe"], _prefix_identity)
    distractor, d_skip = _scan_flat(folders["distractor"], identity_of=None)

    sets = {
        "gallery": FaceFolderSet(gallery, image_size=image_size, role="gallery", skipped=g_skip, name="TinyFace/gallery"),
        "probe": FaceFolderSet(probe, image_size=image_size, role="probe", skipped=p_skip, name="TinyFace/probe"),
    }
    if train_dir is not None:
        train, t_skip = _scan_identity_folders(train_dir)
        sets["train"] = FaceFolderSet(train, image_size=image_size, role="train", skipped=t_skip, name="TinyFace/train")
    _share_label_space(sets["gallery"], sets["probe"])
    sets["distractor"] = FaceFolderSet(
        distractor, image_size=image_size, role="distractor", skipped=d_skip, name="TinyFace/distractor"
    )
    if "train" not in sets:
        return {k: sets[k] for k in ("gallery", "distractor", "probe")}
    if check_identities:
        try:
            check_disjoint(sets["train"], sets["gallery"], sets["probe"])
        except RIEInputError as exc:
            raise RIEInputError(
                f"{exc}. If this copy numbers its Training_Set folders independently of the test "
                "file names, pass check_identities=False"
            ) from exc
    return {k: sets[k] for k in ("train", "gallery", "distractor", "probe")}


def _share_label_space(*sets: FaceFolderSet) -> None:
    """Relabel ``sets`` onto one label space: the sorted union of the identities they contain.

    Done after validation, so an identity whose only image is corrupt takes no label.
    """
    identities = sorted(set().union(*(s.present_identities() for s in sets)))
    for s in sets:
        s.relabel(identities)


# ----------------------------------------------------------------------------- SCface

_SCFACE_PROBE = re.compile(r"^(?P<id>\d+)_cam(?P<cam>\d+)_(?P<dist>\d+)$", re.IGNORECASE)
_SCFACE_MUGSHOT = re.compile(r"^(?P<id>\d+)_frontal$", re.IGNORECASE)


def load_scface(root, image_size: int = 32) -> dict[str, FaceFolderSet]:
    """SCface: ``{"gallery", "probe_4.2m", "probe_2.6m", "probe_1.0m"}`` (layout in the module docstring).

    Gallery = frontal mugshots; probes = visible cameras cam1-5 split by the
    distance suffix ``_1/_2/_3``. All four sets share the gallery's label space;
    a probe of a subject with no mugshot is skipped with a reason.
    """
    root = _require_dir(Path(root), "SCface")
    base = _dataset_base(
        root,
        ("SCface_database", "SCface"),
        ("mugshot_frontal_cropped_all", "mugshot_frontal_original_all"),
    )
    mug_dir = _child_dir(base, "mugshot_frontal_cropped_all", "mugshot_frontal_original_all")
    mug_dir = _require_dir(mug_dir or base / "mugshot_frontal_cropped_all", "SCface")
    probe_dirs = [d for d in (_child_dir(base, f"surveillance_cameras_distance_{k}") for k in (1, 2, 3)) if d]
    if not probe_dirs:
        flat = _child_dir(base, "surveillance_cameras_all")
        if flat is None:
            raise RIEInputError(
                f"SCface: expected folder {base / 'surveillance_cameras_distance_1'} (and _2, _3) "
                f"or {base / 'surveillance_cameras_all'} (missing)"
            )
        probe_dirs = [flat]

    gallery, g_skip = [], []
    for path in _walk_files(mug_dir, g_skip):
        match = _SCFACE_MUGSHOT.match(path.stem)
        if not _is_image_name(path.name):
            g_skip.append((str(path), f"not an image file extension ({path.suffix or 'none'})"))
        elif match is None:
            g_skip.append((str(path), "not a frontal mugshot name (expected <id>_frontal.<ext>)"))
        else:
            gallery.append((str(path), match["id"]))

    probes = {key: [] for key in SCFACE_DISTANCES.values()}
    p_skip, seen, visited = [], set(), set()
    for folder in probe_dirs:
        for path in _walk_files(folder, p_skip, visited):
            match = _SCFACE_PROBE.match(path.stem)
            if not _is_image_name(path.name):
                p_skip.append((str(path), f"not an image file extension ({path.suffix or 'none'})"))
            elif match is None:
                p_skip.append((str(path), "not a probe name (expected <id>_cam<c>_<d>.<ext>)"))
            elif int(match["cam"]) not in SCFACE_VISIBLE_CAMERAS:
                p_skip.append((str(path), f"excluded: camera {match['cam']} is infrared (protocol uses cam1-5)"))
            elif int(match["dist"]) not in SCFACE_DISTANCES:
                p_skip.append((str(path), f"unknown distance suffix _{match['dist']} (expected _1, _2 or _3)"))
            elif path.stem.lower() in seen:
                p_skip.append((str(path), "duplicate of an image already loaded"))
            else:
                seen.add(path.stem.lower())
                probes[SCFACE_DISTANCES[int(match["dist"])]].append((str(path), match["id"]))

    gallery_set = FaceFolderSet(gallery, image_size=image_size, role="gallery", skipped=g_skip, name="SCface/gallery")
    known = gallery_set.present_identities()
    sets = {"gallery": gallery_set}
    for i, (key, samples) in enumerate(probes.items()):
        kept = [(p, ident) for p, ident in samples if ident in known]
        orphans = [(p, f"subject {ident} has no usable mugshot in the gallery") for p, ident in samples if ident not in known]
        skipped = (p_skip if i == 0 else []) + orphans  # shared scan problems reported once, on the first probe set
        sets[key] = FaceFolderSet(
            kept,
            image_size=image_size,
            role="probe",
            identities=gallery_set.identities,
            skipped=skipped,
            name=f"SCface/{key}",
        )
    return sets


# ----------------------------------------------------------------------------- QMUL-SurvFace


def _mat_strings(value) -> list[str]:
    """File names from a MATLAB cell array (loadmat gives an object array of 1-element arrays)."""
    out = []
    for cell in np.asarray(value).reshape(-1):
        cell = np.asarray(cell).reshape(-1)
        out.append(str(cell[0]).strip() if cell.size else "")
    return out


def _read_mat(path: Path) -> dict:
    from scipy.io import loadmat  # scipy comes with scikit-learn; imported here to keep module import light

    try:
        return {k: v for k, v in loadmat(str(path)).items() if not k.startswith("__")}
    except Exception as exc:
        raise RIEInputError(f"cannot read MATLAB file {path} ({type(exc).__name__}: {exc})") from exc


def _text_lines(path: Path):
    """``(line number, text)`` of a UTF-8 list file; bytes that do not decode name the file and line."""
    for n, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            yield n, raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise RIEInputError(
                f"{path}, line {n}: not UTF-8 text ({exc.reason} at byte {exc.start}: {raw[exc.start:exc.start + 4]!r})"
            ) from None


def _read_id_list(folders: Sequence[Path], stem: str, names_key: str, ids_key: str):
    """Official ``<stem>.mat`` (names_key, ids_key) or ``<stem>.txt`` ("name id" lines) -> (names, ids, path).

    Returns ``(None, None, None)`` when neither file exists in any of ``folders``.
    """
    for folder in folders:
        mat, txt = folder / f"{stem}.mat", folder / f"{stem}.txt"
        if mat.is_file():
            data = _read_mat(mat)
            if names_key not in data or ids_key not in data:
                raise RIEInputError(f"{mat}: expected keys {names_key!r} and {ids_key!r}, found {sorted(data)}")
            names = _mat_strings(data[names_key])
            ids = [str(int(x)) for x in np.asarray(data[ids_key]).reshape(-1)]
            if len(names) != len(ids):
                raise RIEInputError(f"{mat}: {len(names)} names but {len(ids)} ids")
            return names, ids, mat
        if txt.is_file():
            names, ids = [], []
            for n, line in _text_lines(txt):
                parts = line.replace(",", " ").split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise RIEInputError(f"{txt}, line {n}: expected '<file name> <id>', got {line!r}")
                names.append(parts[0])
                ids.append(parts[1])
            return names, ids, txt
    return None, None, None


def _survface_listed(folder: Path, listing, dataset: str):
    """Samples of an identification folder, restricted to and checked against the official list."""
    names, ids, list_path = listing
    on_disk, skipped = _scan_flat(folder, _prefix_identity)
    if names is None:
        return on_disk, skipped
    by_name = {Path(p).name: (p, ident) for p, ident in on_disk}
    samples, official_of = [], {}
    for name, official in zip(names, ids):
        if name not in by_name:
            skipped.append((str(folder / name), f"listed in {list_path.name} but missing"))
            continue
        path, person = by_name.pop(name)
        # one official id <-> one file-name person id, or the list and files disagree
        if official_of.setdefault(person, official) != official:
            raise RIEInputError(
                f"{dataset}: {list_path} gives person {person} two ids ({official_of[person]} and {official})"
            )
        samples.append((path, person))
    persons_of = Counter(official_of.values())
    merged = sorted(o for o, n in persons_of.items() if n > 1)
    if merged:
        raise RIEInputError(f"{dataset}: {list_path} merges several file-name person ids under ids {merged[:5]}")
    skipped.extend((p, f"not in the official list {list_path.name}") for p, _ in by_name.values())
    return samples, skipped


def _survface_base(root: Path) -> Path:
    return _dataset_base(
        root,
        ("QMUL-SurvFace", "QMUL_SurvFace", "SurvFace"),
        ("Training_Set", "Face_Identification_Test_Set", "Face_Verification_Test_Set"),
    )


def load_survface(root, image_size: int = 32, check_identities: bool = True,
                  require_train: bool = True) -> dict[str, FaceFolderSet]:
    """QMUL-SurvFace: ``{"train", "gallery", "probe", "unmated"}`` (layout in the module docstring).

    Files read: ``Training_Set/<id>/``; ``Face_Identification_Test_Set/{gallery,
    mated_probe, unmated_probe}/``; ``gallery_img_ID_pairs.mat`` and
    ``mated_probe_img_ID_pairs.mat`` if present. Gallery and probe share one
    label space (global person ids); unmated probes are unlabelled (-1).
    ``check_disjoint`` is called on train vs gallery and probe. ``require_train=False``
    accepts a copy of the test sets alone (no ``"train"`` key then).
    """
    root = _require_dir(Path(root), "QMUL-SurvFace")
    base = _survface_base(root)
    train_dir = _child_dir(base, "Training_Set")
    if require_train or train_dir is not None:
        train_dir = _require_dir(train_dir or base / "Training_Set", "QMUL-SurvFace")
    test_dir = _child_dir(base, "Face_Identification_Test_Set")
    test_dir = _require_dir(test_dir or base / "Face_Identification_Test_Set", "QMUL-SurvFace")
    folders = {}
    for key, folder in (("gallery", "gallery"), ("probe", "mated_probe"), ("unmated", "unmated_probe")):
        folders[key] = _require_dir(_child_dir(test_dir, folder) or test_dir / folder, "QMUL-SurvFace")

    list_dirs = [test_dir] + [d for d in [_child_dir(base, "Face_Identification_Evaluation")] if d]
    g_list = _read_id_list(list_dirs, "gallery_img_ID_pairs", "gallery_set", "gallery_ids")
    p_list = _read_id_list(list_dirs, "mated_probe_img_ID_pairs", "mated_probe_set", "mated_probe_ids")
    gallery = _survface_listed(folders["gallery"], g_list, "QMUL-SurvFace")
    probe = _survface_listed(folders["probe"], p_list, "QMUL-SurvFace")
    if g_list[0] is not None and p_list[0] is not None:
        _check_same_official_ids(g_list, p_list, gallery[0], probe[0])

    unmated, u_skip = _scan_flat(folders["unmated"], identity_of=None)
    name = "QMUL-SurvFace"
    sets = {
        "gallery": FaceFolderSet(gallery[0], image_size=image_size, role="gallery", skipped=gallery[1], name=f"{name}/gallery"),
        "probe": FaceFolderSet(probe[0], image_size=image_size, role="probe", skipped=probe[1], name=f"{name}/probe"),
    }
    if train_dir is not None:
        train, t_skip = _scan_identity_folders(train_dir)
        sets["train"] = FaceFolderSet(train, image_size=image_size, role="train", skipped=t_skip, name=f"{name}/train")
    _share_label_space(sets["gallery"], sets["probe"])
    sets["unmated"] = FaceFolderSet(
        unmated, image_size=image_size, role="unmated", skipped=u_skip, name="QMUL-SurvFace/unmated"
    )
    if "train" not in sets:
        return {k: sets[k] for k in ("gallery", "probe", "unmated")}
    if check_identities:
        check_disjoint(sets["train"], sets["gallery"], sets["probe"])
    return {k: sets[k] for k in ("train", "gallery", "probe", "unmated")}


def _check_same_official_ids(g_list, p_list, gallery, probe) -> None:
    """Gallery and probe lists must map file-name person ids to the same official ids."""
    official = {}
    for (names, ids, _), samples in ((g_list, gallery), (p_list, probe)):
        by_name = dict(zip(names, ids))
        for path, person in samples:
            oid = by_name[Path(path).name]
            if official.setdefault(person, oid) != oid:
                raise RIEInputError(
                    f"QMUL-SurvFace: person {person} has id {official[person]} in one official list and {oid} in the other"
                )


def _read_pairs(folder: Path, stem: str) -> tuple[list[tuple[str, str, str]], Path]:
    """``<stem>.mat`` (an (N, 2) cell of names under key ``stem``) or ``<stem>.txt`` (two names a line).

    Each pair comes with where it was read (``"<file>, line n"`` or ``"<file>, row n"``), for error messages.
    """
    mat, txt = folder / f"{stem}.mat", folder / f"{stem}.txt"
    if mat.is_file():
        data = _read_mat(mat)
        key = stem if stem in data else next(iter(data), None)
        if key is None:
            raise RIEInputError(f"{mat}: no variables inside")
        arr = np.asarray(data[key], dtype=object)
        if arr.ndim != 2 or 2 not in arr.shape:
            raise RIEInputError(f"{mat}: expected an (N, 2) cell of file names, got shape {arr.shape}")
        if arr.shape[1] != 2:
            arr = arr.T
        first, second = _mat_strings(arr[:, 0]), _mat_strings(arr[:, 1])
        return [(a, b, f"{mat}, row {n}") for n, (a, b) in enumerate(zip(first, second), 1)], mat
    if txt.is_file():
        pairs = []
        for n, line in _text_lines(txt):
            parts = line.replace(",", " ").split()
            if not parts:
                continue
            if len(parts) != 2:
                raise RIEInputError(f"{txt}, line {n}: expected two file names, got {line!r}")
            pairs.append((parts[0], parts[1], f"{txt}, line {n}"))
        return pairs, txt
    raise RIEInputError(f"QMUL-SurvFace: expected pair list {mat} (or {txt.name}), missing")


def _check_pair_identities(pairs, same: bool) -> None:
    """A positive pair must show one person and a negative pair two (file-name person ids).

    A wrong pair label silently moves every TPR@FAR; names without an id are not judged.
    """
    for a, b, where in pairs:
        ia, ib = _prefix_identity(a), _prefix_identity(b)
        if ia is None or ib is None or (ia == ib) == same:
            continue
        kind = "positive (same-person) pair of two people" if same else "negative (two-person) pair of one person"
        raise RIEInputError(f"{where}: a {kind}: {a} is person {ia}, {b} is person {ib}")


def load_survface_pairs(root, image_size: int = 32) -> dict:
    """QMUL-SurvFace verification pairs from ``Face_Verification_Test_Set``.

    Reads ``positive_pairs_names.mat`` and ``negative_pairs_names.mat`` (or
    ``.txt``) and the images in ``verification_images/``. Returns a dict:

    - ``"images"``: a :class:`FaceFolderSet` of every distinct image the pairs use
      (role ``verification``, labelled by the file-name person id);
    - ``"pairs"``: LongTensor (P, 2) of indices into ``images``, positives first;
    - ``"same"``: BoolTensor (P,), True for a positive (same person) pair;
    - ``"path_pairs"``: the same pairs as ``(path, path)`` tuples;
    - ``"dropped"``: ``(name_a, name_b, reason)`` for pairs whose image is missing
      or unreadable (those images are also in ``images.skipped``).
    """
    root = _require_dir(Path(root), "QMUL-SurvFace")
    base = _survface_base(root)
    ver_dir = _child_dir(base, "Face_Verification_Test_Set")
    ver_dir = _require_dir(ver_dir or base / "Face_Verification_Test_Set", "QMUL-SurvFace")
    img_dir = _child_dir(ver_dir, "verification_images")
    img_dir = _require_dir(img_dir or ver_dir / "verification_images", "QMUL-SurvFace")

    positive, _ = _read_pairs(ver_dir, "positive_pairs_names")
    negative, _ = _read_pairs(ver_dir, "negative_pairs_names")
    _check_pair_identities(positive, same=True)
    _check_pair_identities(negative, same=False)
    labelled = [(a, b, True) for a, b, _ in positive] + [(a, b, False) for a, b, _ in negative]

    names = list(dict.fromkeys(n for a, b, _ in labelled for n in (a, b)))  # first-appearance order
    missing = {n for n in names if not (img_dir / n).is_file()}
    samples = [(str(img_dir / n), _prefix_identity(n)) for n in names if n not in missing]
    skipped = [(str(img_dir / n), "used by a pair but missing") for n in sorted(missing)]
    images = FaceFolderSet(
        samples, image_size=image_size, role="verification", skipped=skipped, name="QMUL-SurvFace/verification"
    )
    index = {Path(p).name: i for i, p in enumerate(images.paths)}
    reasons = {Path(p).name: r for p, r in images.skipped}

    pairs, same, path_pairs, dropped = [], [], [], []
    for a, b, is_same in labelled:
        if a in index and b in index:
            pairs.append((index[a], index[b]))
            same.append(is_same)
            path_pairs.append((images.paths[index[a]], images.paths[index[b]]))
        else:
            bad = a if a not in index else b
            dropped.append((a, b, f"{bad}: {reasons.get(bad, 'unusable')}"))
    if not pairs:
        raise RIEInputError(f"QMUL-SurvFace: no usable verification pair ({len(dropped)} dropped)")
    return {
        "images": images,
        "pairs": torch.tensor(pairs, dtype=torch.int64),
        "same": torch.tensor(same, dtype=torch.bool),
        "path_pairs": path_pairs,
        "dropped": dropped,
    }
