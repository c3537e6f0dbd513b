"""The head: hair behind it, the ears, the face oval, facial hair and the hair on top."""

from __future__ import annotations

from .canvas import Alpha, _col, _on_subset, _paint
from .face import Face


def draw_back_hair(f: Face) -> None:
    """Long hair behind the head (length > 0.35 reaches below the ears); sets the hair
    volume ``f.vol`` and centre ``f.hcx`` that the hair on top reuses."""
    g, cv, fw, fh, cy = f.g, f.cv, f.fw, f.fh, f.cy
    hair = g["hair"]
    # short hair hugs the skull; longer hair gets its own volume
    short = ((g["hair_len"] - 0.06) / 0.25).clamp(0, 1)
    f.vol = vol = 1.01 + (0.02 + 0.14 * g["hair_vol"]) * short
    f.hcx = hcx = f.px(f.zeros, -0.2)
    long_len = (g["hair_len"] - 0.35).clamp(min=0)
    top = cy - fh * vol
    bottom = cy - 0.2 + 2.6 * long_len
    back = cv.ellipse(hcx, (top + bottom) / 2, fw * (vol + 0.12), (bottom - top) / 2)
    _paint(f.img, hair * 0.85, back, opacity=(long_len > 0).float())


def draw_ears(f: Face) -> None:
    """Ears at the sides, drawn before the face so a turned head hides one."""
    g, fw, skin = f.g, f.fw, f.g["skin"]
    ear_y = f.py(g["ey"] + 0.12, 0.0)
    for side in (-1.0, 1.0):
        ex = f.px(side * fw * 0.97, -0.25)
        ear = f.cv.ellipse(ex, ear_y, g["ear"] * 0.55 * f.width_scale(side * fw * 0.9), g["ear"])
        _paint(f.img, skin * 0.85, ear)


def draw_face_oval(f: Face) -> None:
    """The face oval, narrowing towards the chin (jaw) and slightly at the forehead; sets
    ``f.face`` (its Alpha: beard and occlusion use it) and its centre ``f.fcx``."""
    g, cv, X, Y, fw, fh, cy = f.g, f.cv, f.X, f.Y, f.fw, f.fh, f.cy
    f.fcx = fcx = f.px(f.zeros, 0.05)
    r0, r1, c0, c1 = cv.window(fcx - fw, fcx + fw, cy - fh, cy + fh)
    dy_face = (Y[:, r0:r1] - _col(cy)) / _col(fh)  # (N, h, 1)
    taper = 1 - _col(g["jaw"]) * dy_face.clamp(min=0) ** 2 - 0.08 * (-dy_face).clamp(min=0)
    tx = ((X[:, :, c0:c1] - _col(fcx)) / (_col(fw) * taper.clamp(min=0.2))) ** 2
    f.face = Alpha((_col(fw / (2 * cv.px)) * (1 - tx - dy_face**2) + 0.5).clamp_(0, 1), r0, c0)
    _paint(f.img, g["skin"], f.face)


def draw_beard(f: Face) -> None:
    """Facial hair: full beard, goatee or moustache in the hair colour (bearded identities only)."""
    g, cv, img, face, ones, Y = f.g, f.cv, f.img, f.face, f.ones, f.Y
    mx, my, tip_y, bend = f.mx, f.my, f.tip_y, f.bend
    style = g["beard_style"]
    beard_col = g["hair"] * 0.9
    cheek_y = (tip_y + my) / 2 - 0.06

    def draw(i):
        full = (style[i] > 0.66).float()
        goatee = ((style[i] > 0.33) & (style[i] <= 0.66)).float()
        sub_face = Alpha(face.a[i], face.r0, face.c0)
        _paint(img, beard_col[i], sub_face.rows(cv.ramp(Y, _col(cheek_y[i]))), opacity=full * 0.92, idx=i)
        chin = cv.ellipse(mx[i], my[i] + g["mt"][i] + 0.1, g["mw"][i] * 0.6, 0.15 * ones[i]) * sub_face
        _paint(img, beard_col[i], chin, opacity=goatee * 0.92, idx=i)
        stache = cv.ellipse(mx[i], (tip_y[i] + my[i]) / 2 + 0.02, g["mw"][i] * 1.05, 0.035 * ones[i],
                            bend=bend[i] * 0.5)  # fmt: skip
        _paint(img, beard_col[i], stache, opacity=0.92 * ones[i], idx=i)

    _on_subset(g["beard"] > 0, draw)


def draw_hair_cap(f: Face) -> None:
    """Hair on top: a cap bounded below by a curved, parted hairline (none when bald)."""
    g, cv, X, Y, fw, fh, cy, vol = f.g, f.cv, f.X, f.Y, f.fw, f.fh, f.cy, f.vol
    cap = cv.ellipse(f.hcx, cy - 0.04, fw * vol, fh * vol * 0.98)
    dxh = X[:, :, cap.c0:cap.c1] - _col(f.px(f.zeros, 0.6))
    line_y = _col(f.py(cy - fh * g["hairline"], 0.6)) + _col(g["hair_part"]) * dxh + 1.4 * dxh**2  # temples lower
    below = ((line_y - Y[:, cap.r0:cap.r1]) / cv.px + 0.5).clamp_(0, 1)
    _paint(f.img, g["hair"], Alpha(cap.a * below, cap.r0, cap.c0), opacity=(g["hair_len"] > 0.06).float())  # else bald
