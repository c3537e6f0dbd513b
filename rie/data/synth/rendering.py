"""Rendering: ``render`` draws faces (:mod:`rie.data.synth.draw`) and photographs them
with the camera (sampling at the sensor size, the crop, exposure, colour, blur, noise,
JPEG), giving a ``FaceBatch`` of uint8 images with their parameters, part boxes and
difficulty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...common.checks import RIEInputError
from .draw import draw_faces
from .draw.canvas import _col, warp_images
from .draw.identity import NUM_IDENTITY_PARAMS
from .sampling import CAMERA_KEYS, NUISANCE_KEYS, difficulty_score, neutral_nuisance, sample_identities, sample_nuisance

PARTS = ("eyes", "nose", "mouth")  # the order of boxes[:, k]


# ---------------------------------------------------------------------------
# Boxes
# ---------------------------------------------------------------------------
def boxes_to_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Boolean masks (N, K, size, size) of (N, K, 4) pixel boxes (x0, y0, x1, y1): a pixel is in
    a box when its centre is."""
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise RIEInputError(f"boxes must be a (N, K, 4) tensor, got {getattr(boxes, 'shape', type(boxes))}")
    c = torch.arange(size, dtype=torch.float32, device=boxes.device) + 0.5
    b = boxes.float()
    in_x = (c >= b[..., 0:1]) & (c <= b[..., 2:3])  # (N, K, size)
    in_y = (c >= b[..., 1:2]) & (c <= b[..., 3:4])
    return in_y[..., :, None] & in_x[..., None, :]


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------
def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255 + 0.5).clamp(0, 255).to(torch.uint8)


def _float_images(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1.0)


@dataclass
class FaceBatch:
    """Rendered faces: ``images`` uint8 (N, 3, H, W); ``params`` dict of (N,) tensors;
    ``boxes`` (N, 3, 4) eyes / nose / mouth as (x0, y0, x1, y1) in pixels; ``difficulty`` (N,)."""

    images: torch.Tensor
    params: dict[str, torch.Tensor]
    boxes: torch.Tensor
    difficulty: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to_float(self) -> torch.Tensor:
        """Images as float in [-1, 1], as the models expect."""
        return _float_images(self.images)

    def masks(self) -> torch.Tensor:
        """(N, 3, H, W) boolean masks of the eyes / nose / mouth boxes."""
        return boxes_to_masks(self.boxes, self.images.shape[-1])


def _broadcast_params(nuisance: dict, n: int) -> dict[str, torch.Tensor]:
    if not isinstance(nuisance, dict):
        raise RIEInputError(f"nuisance must be a dict of per-image parameters, got {type(nuisance).__name__}")
    unknown = set(nuisance) - set(NUISANCE_KEYS) - {"identity", "occlusion"}
    if unknown:
        raise RIEInputError(f"unknown nuisance key(s) {sorted(unknown)}; known: {list(NUISANCE_KEYS)}")
    out = {}
    for k, v in nuisance.items():
        t = torch.as_tensor(v, dtype=torch.float32).detach().cpu()
        if t.ndim == 0:
            t = t.expand(n).clone()
        if t.shape != (n,):
            raise RIEInputError(f"nuisance[{k!r}] must be a scalar or have shape ({n},), got {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise RIEInputError(f"nuisance[{k!r}] contains NaN or inf")
        out[k] = t
    return out


def render(
    identities: torch.Tensor,
    nuisance: dict | None = None,
    image_size: int = 32,
    degrade: bool | dict = True,
    render_size: int | None = None,
    chunk: int = 512,
    device: str | torch.device | None = None,
) -> FaceBatch:
    """Draw and photograph faces: identity i with nuisance row i.

    identities: (N, NUM_IDENTITY_PARAMS) in [0, 1] (``sample_identities``).
    nuisance:   dict of per-image parameters (``sample_nuisance``); missing keys
                take the "clean" tier's values and scalars are broadcast, so
                ``render(ids, {"yaw": 30.0})`` is a frontal-light clean face turned 30 degrees.
    degrade:    True applies the camera in ``nuisance``; False skips it (full
                resolution, no blur, noise or compression); a dict overrides
                camera keys, e.g. ``{"resolution_px": 8, "blur_sigma": 1.0}``.
    render_size: internal drawing resolution, default ``max(64, 2 * image_size)``.
    """
    if not isinstance(identities, torch.Tensor) or identities.ndim != 2 or identities.shape[1] != NUM_IDENTITY_PARAMS:
        raise RIEInputError(
            f"identities must be a (N, {NUM_IDENTITY_PARAMS}) tensor from sample_identities, "
            f"got {getattr(identities, 'shape', type(identities).__name__)}"
        )
    if not identities.is_floating_point() or not torch.isfinite(identities).all():
        raise RIEInputError("identities must be finite floating-point values in [0, 1]")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise RIEInputError(f"image_size must be an integer >= 8, got {image_size!r}")
    render_size = max(64, 2 * image_size) if render_size is None else render_size
    if isinstance(render_size, bool) or not isinstance(render_size, int) or render_size < image_size:
        raise RIEInputError(f"render_size ({render_size!r}) must be an integer >= image_size ({image_size})")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise RIEInputError(f"chunk must be a positive integer, got {chunk!r}")
    n = identities.shape[0]
    params = neutral_nuisance(n, image_size)  # defaults for missing keys
    params.update(_broadcast_params(nuisance or {}, n))
    if degrade is False:
        params.update(resolution_px=torch.full((n,), float(image_size)), down_bilinear=torch.zeros(n),
                      blur_sigma=torch.zeros(n), noise_std=torch.zeros(n), jpeg_quality=torch.full((n,), 100.0))  # fmt: skip
    elif isinstance(degrade, dict):
        bad = set(degrade) - set(CAMERA_KEYS) - {"noise_seed"}
        if bad:
            raise RIEInputError(f"degrade may only set camera keys {list(CAMERA_KEYS)}, got {sorted(bad)}")
        params.update(_broadcast_params(degrade, n))
    elif degrade is not True:
        raise RIEInputError(f"degrade must be True, False or a dict of camera parameters, got {degrade!r}")
    res = params["resolution_px"]
    if n and (res.min() < 2 or res.max() > image_size or (res != res.round()).any()):
        raise RIEInputError(
            f"resolution_px must be whole pixels in [2, image_size={image_size}], got range "
            f"[{float(res.min()):g}, {float(res.max()):g}]"
        )
    if n and (params["blur_sigma"].min() < 0 or params["noise_std"].min() < 0):
        raise RIEInputError("blur_sigma and noise_std must be non-negative")
    if n and (params["jpeg_quality"].min() < 1 or params["jpeg_quality"].max() > 100):
        raise RIEInputError("jpeg_quality must lie in [1, 100]")
    if n and (params["scale"].min() <= 0):
        raise RIEInputError("scale must be positive")

    dev = torch.device(device) if device is not None else torch.device("cpu")
    images = torch.empty(n, 3, image_size, image_size, dtype=torch.uint8)
    boxes = torch.empty(n, 3, 4)
    occlusion = torch.empty(n)
    # Draw in chunks of `chunk`, average each drawing down to the output size at once
    # (no sensor is larger), and run the camera on up to ~50 MB of those at a time:
    # the camera works per sensor size, so bigger batches mean fewer, fuller groups.
    cam_chunk = max(chunk, min(4 * chunk, int(50e6 // (12 * image_size * image_size))))
    with torch.inference_mode():
        for c0 in range(0, n, cam_chunk):
            c1 = min(c0 + cam_chunk, n)
            scenes = torch.empty(c1 - c0, 3, image_size, image_size, device=dev)
            for s in range(c0, c1, chunk):
                sl = slice(s, min(s + chunk, c1))
                nz = {k: v[sl].to(dev) for k, v in params.items()}
                drawn, b, occ = draw_faces(identities[sl].float().clamp(0, 1).to(dev), nz, render_size)
                scenes[s - c0:sl.stop - c0] = downsize(drawn, image_size)
                boxes[sl] = ((b + 1) / 2 * image_size).clamp(0, image_size).cpu()
                occlusion[sl] = occ.cpu()
            nz = {k: v[c0:c1].to(dev) for k, v in params.items()}
            images[c0:c1] = _to_uint8(camera(scenes, nz, image_size)).cpu()
    params["occlusion"] = occlusion
    return FaceBatch(images=images, params=params, boxes=boxes, difficulty=difficulty_score(params))


def raw_pixel_identification(tier="hr", n_identities: int = 10, images_per_id: int = 16, image_size: int = 32,
                             degrade: bool | dict = True, seed: int = 0) -> float:  # fmt: skip
    """How much identity the pixels themselves carry: nearest-centroid identification accuracy.

    Renders ``images_per_id`` images of each of ``n_identities`` people with
    nuisance from ``tier``; half of each person's images form their centroid
    (mean of raw pixels in [-1, 1]), the other half are classified by the nearest
    centroid. Chance is ``1 / n_identities``. No learning: a floor on what a
    model can find, and a check that degradation destroys identity.
    """
    if n_identities < 2 or images_per_id < 2:
        raise RIEInputError("need at least 2 identities and 2 images per identity")
    ids = sample_identities(n_identities, seed)
    labels = torch.arange(n_identities).repeat_interleave(images_per_id)
    nz = sample_nuisance(len(labels), seed + 1, tier, image_size)
    x = render(ids[labels], nz, image_size, degrade=degrade).to_float().flatten(1)
    fit = torch.arange(len(labels)) % images_per_id < images_per_id // 2
    centroids = torch.stack([x[fit & (labels == c)].mean(0) for c in range(n_identities)])
    pred = torch.cdist(x[~fit], centroids).argmin(1)
    return float((pred == labels[~fit]).float().mean())


# ---------------------------------------------------------------------------
# The camera: sampling, optics, sensor, compression
# ---------------------------------------------------------------------------
_NOISE_BANK: dict[str, torch.Tensor] = {}
NOISE_BANK_SIZE = 1 << 21


def seeded_normal(seed: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal noise of shape (N, *shape) that depends only on each image's integer seed.

    Each image reads a window of a fixed bank of 2M normals (drawn once from
    seed 0) at an offset given by its seed, so an image's noise is the same in
    whatever batch or chunk it is rendered, at the cost of a gather.
    """
    count = math.prod(shape)
    key = str(seed.device)
    if key not in _NOISE_BANK:
        bank = torch.randn(NOISE_BANK_SIZE, generator=torch.Generator().manual_seed(0))
        _NOISE_BANK[key] = bank.to(seed.device)
    bank = _NOISE_BANK[key]
    if count > NOISE_BANK_SIZE // 4:
        raise ValueError(f"noise for {shape} needs more than the bank holds; render smaller sensor images")
    offset = seed.long() % (NOISE_BANK_SIZE - count)
    idx = offset[:, None] + torch.arange(count, device=seed.device)[None, :]
    return bank[idx].view(seed.shape[0], *shape)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image of x (n, C, H, W) with its own Gaussian sigma (pixels), separably."""
    n, ch, h, w = x.shape
    smax = float(sigma.max())
    if smax < 0.05:
        return x
    rad = max(1, min(int(math.ceil(3 * smax)), (min(h, w) - 1)))
    k = torch.arange(-rad, rad + 1, device=x.device, dtype=x.dtype)
    sig = sigma.clamp(min=1e-3)[:, None]
    ker = torch.exp(-0.5 * (k[None, :] / sig) ** 2)
    ker = ker / ker.sum(1, keepdim=True)  # (n, K); sigma ~ 0 gives a delta
    ker = ker.repeat_interleave(ch, 0)  # one kernel per channel of each image
    y = x.reshape(1, n * ch, h, w)
    y = F.pad(y, (rad, rad, rad, rad), mode="replicate")
    y = F.conv2d(y, ker[:, None, None, :], groups=n * ch)
    y = F.conv2d(y, ker[:, None, :, None], groups=n * ch)
    return y.view(n, ch, h, w)


# The JPEG standard's (Annex K) luminance and chrominance quantisation tables.
_Q_LUMA = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=torch.float32)  # fmt: skip
_Q_CHROMA = torch.full((8, 8), 99.0)
_Q_CHROMA[:4, :4] = torch.tensor([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]])


def _dct_matrix(device) -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float32, device=device)
    d = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d  # orthonormal DCT-II: coefficients = D @ block @ D.T


def jpeg_compress(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-like compression of x (n, 3, H, W) in [0, 1], per-image quality in [1, 100].

    YCbCr, 8x8 block DCT, quantisation with the standard tables scaled as the
    IJG encoder does, and back. No chroma subsampling or entropy coding (lossless
    steps that change nothing here).
    """
    n, _, h, w = x.shape
    dev = x.device
    ycc = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], device=dev)
    z = (ycc[None, :, :, None, None] * x[:, None]).sum(2) * 255
    z[:, 0] -= 128
    ph, pw = (-h) % 8, (-w) % 8
    if ph or pw:
        z = F.pad(z, (0, pw, 0, ph), mode="replicate")
    hb, wb = z.shape[2] // 8, z.shape[3] // 8
    blocks = z.view(n, 3, hb, 8, wb, 8).permute(0, 1, 2, 4, 3, 5).reshape(n, 3, hb, wb, 64)
    # the 2-D DCT of a flattened 8x8 block is one 64x64 matrix: kron(D, D)
    d = _dct_matrix(dev)
    k2 = torch.kron(d, d)
    coef = blocks @ k2.T
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)  # IJG quality scaling
    tables = torch.stack([_Q_LUMA, _Q_CHROMA, _Q_CHROMA]).to(dev)
    qt = ((tables[None] * scale[:, None, None, None] + 50) / 100).floor().clamp(1, 255)  # (n, 3, 8, 8)
    qt = qt.reshape(n, 3, 1, 1, 64)
    coef = torch.round(coef / qt) * qt
    blocks = (coef @ k2).view(n, 3, hb, wb, 8, 8)
    z = blocks.permute(0, 1, 2, 4, 3, 5).reshape(n, 3, hb * 8, wb * 8)[:, :, :h, :w] / 255
    z[:, 0] += 128 / 255
    inv = torch.linalg.inv(ycc)
    return (inv[None, :, :, None, None] * z[:, None]).sum(2)


def downsize(img: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average a drawing down to size x size (an exact box filter for integer factors)."""
    r = img.shape[-1]
    if r == size:
        return img
    if r % size == 0:
        return F.avg_pool2d(img, r // size)
    return F.interpolate(img, size=(size, size), mode="area")


def camera(img: torch.Tensor, nz: dict[str, torch.Tensor], out_size: int) -> torch.Tensor:
    """Photograph the drawn scenes: (n, 3, R, R) in [0, 1] -> (n, 3, out_size, out_size) in [0, 1].

    ``render`` passes scenes already area-averaged to ``out_size`` (R = out_size):
    every sensor is at most that large, and averaging a 64 px drawing to 32 px and
    then to the sensor size is, up to a little blur, the same as averaging it once.

    Per image, in this order: sample the scene at ``resolution_px`` (area
    averaging, or plain bilinear sampling with aliasing where ``down_bilinear``),
    the crop's roll / zoom / shift (resampled at sensor size: cheap, and only a
    little softer than warping the drawing), exposure (a soft tone curve) /
    colour cast / grey sensor, Gaussian blur (``blur_sigma`` in sensor pixels),
    clipping, sensor noise (``noise_std`` per channel, 64 % of its variance shared by
    the three channels), JPEG (``jpeg_quality``), then the
    upsampling back to the model's input size (bilinear), as a VLR face is fed
    to a network. Images are grouped by sensor size so each group is one batched call.
    """
    n = img.shape[0]
    out = torch.empty(n, 3, out_size, out_size, device=img.device)
    res = nz["resolution_px"].round().long()
    bil = nz["down_bilinear"] > 0.5
    key = res * 2 + bil.long()
    cast = torch.stack([nz["cast_r"], nz["cast_g"], nz["cast_b"]], 1)
    # exposure as a soft tone curve 1 - (1 - x)^(2^stops): brighter or darker without a hard
    # clip at white, so an over-exposed face fades rather than vanishing into a flat patch
    power = 2.0 ** nz["exposure"]
    for k in torch.unique(key).tolist():
        idx = (key == k).nonzero().flatten()
        r, bilinear = k // 2, bool(k % 2)
        x = img[idx]
        if r != img.shape[-1]:
            if bilinear:
                x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=False)
            else:
                x = F.interpolate(x, size=(r, r), mode="area")
        # roll / zoom / shift of the crop, resampled at sensor resolution (cheap; adds a little blur)
        x = warp_images(x, {k: nz[k][idx] for k in ("roll", "scale", "shift_x", "shift_y")})
        if bool((nz["exposure"][idx] != 0).any()):
            x = 1 - (1 - x.clamp(0, 1)) ** _col(power[idx]).unsqueeze(1)
        x = x * cast[idx][:, :, None, None]
        grey = nz["grayscale"][idx]
        if bool((grey > 0).any()):
            lum = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device)[None, :, None, None]).sum(1, keepdim=True)
            x = x + (lum - x) * grey[:, None, None, None]
        x = gaussian_blur(x, nz["blur_sigma"][idx]).clamp(0, 1)
        std = nz["noise_std"][idx]
        if bool((std > 0).any()):
            # mostly luminance noise with some chroma, as after a camera's demosaicing
            z = seeded_normal(nz["noise_seed"][idx], (4, r, r))
            x = x + (0.8 * z[:, 3:] + 0.6 * z[:, :3]) * std[:, None, None, None]
            x = x.clamp(0, 1)
        qual = nz["jpeg_quality"][idx]
        if bool((qual < 100).any()):
            x = jpeg_compress(x, qual)
        x = x.clamp(0, 1)
        if r != out_size:
            x = F.interpolate(x, size=(out_size, out_size), mode="bilinear", align_corners=False)
        out[idx] = x
    return out.clamp_(0, 1)
