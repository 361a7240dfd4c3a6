"""Cheap image-quality signals that make detectors fail in deployment.

Each is one number per image, computed with a few vectorized numpy passes on the
luma (Rec. 601, 0-255 units) or the RGB planes in [0, 1]:

- noise: sensor noise sigma (Donoho's wavelet MAD on the Haar HH band);
- blockiness: JPEG 8x8 block artefacts (gradient at block boundaries vs inside);
- blur_anisotropy: directional blur (motion) vs isotropic (defocus), from the
  coherence of the gradient structure tensor;
- acutance: how sharp the edges are for their contrast, with the noise's share
  taken out (low for defocus, motion blur and upscaled low-resolution images);
- colour_cast: grey-world deviation of the mean colour from neutral;
- clipped_highlights / clipped_shadows: pixels lost to saturation;
- vignetting: corners darker than the centre;
- periodicity: a periodic background pattern, as the height of the strongest
  spectral peak above the spectrum's median;
- texture_fraction: the share of the image covered by texture or edges that
  stand out from the noise (background clutter, busy surroundings).
"""

import numpy as np

QUALITY_FEATURES = (
    "noise", "blockiness", "blur_anisotropy", "acutance", "colour_cast", "clipped_highlights",
    "clipped_shadows", "vignetting", "periodicity", "texture_fraction",
)

#: Side in pixels of the blocks :func:`texture_fraction` counts.
TEXTURE_BLOCK = 16
#: A block is textured when its gradient energy exceeds the noise floor by this many standard
#: errors of a noise tile's (the floor, a low quantile, lies ~1.8 of them below the noise's mean).
TEXTURE_Z = 6.0
#: The quantile of the tiles' gradient energy taken as the noise floor.
TEXTURE_FLOOR = 0.1
#: Blockiness is measured on an unscaled crop of at most this many pixels per side.
BLOCK_CROP = 512
_MAD_TO_SIGMA = 1.0 / 0.6745


def noise_sigma(l255):
    """Noise sigma of a luma image (0-255): median |HH| / 0.6745 over 2x2 Haar blocks.

    The HH band of a smooth image is near zero, so its median absolute value
    measures the noise while edges (few pixels) do not move the median.
    """
    h, w = (l255.shape[0] // 2) * 2, (l255.shape[1] // 2) * 2
    if h < 2 or w < 2:
        return np.nan
    x = l255[:h, :w]
    hh = 0.5 * (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2])
    return float(np.median(np.abs(hh)) * _MAD_TO_SIGMA)


def blockiness(l255):
    """log(mean |gradient| across 8x8 block boundaries / mean |gradient| elsewhere).

    ``l255`` must start on the image's own 8x8 grid (JPEG's blocks are aligned to
    the top-left corner). About 0 for images without block artefacts, > 0 with.
    """
    if min(l255.shape) < 16:
        return np.nan
    dh = np.abs(np.diff(l255, axis=1))  # dh[:, j] is between columns j and j + 1
    dv = np.abs(np.diff(l255, axis=0))
    at_h = (np.arange(dh.shape[1]) % 8) == 7
    at_v = (np.arange(dv.shape[0]) % 8) == 7
    boundary = dh[:, at_h].mean() + dv[at_v].mean()
    inside = dh[:, ~at_h].mean() + dv[~at_v].mean()
    return float(np.log((boundary + 0.05) / (inside + 0.05)))


def blur_anisotropy(luma):
    """Coherence of the gradient structure tensor, in [0, 1].

    Motion blur removes gradient along the motion, so the remaining gradient
    energy points one way (near 1); defocus blur and sharp images keep it
    spread over all directions (near 0) in scenes without one dominant edge.
    """
    if min(luma.shape) < 3:
        return np.nan
    gx = 0.5 * (luma[1:-1, 2:] - luma[1:-1, :-2])
    gy = 0.5 * (luma[2:, 1:-1] - luma[:-2, 1:-1])
    jxx, jyy, jxy = (gx * gx).mean(), (gy * gy).mean(), (gx * gy).mean()
    trace = jxx + jyy
    if trace <= 1e-12:
        return 0.0
    return float(np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / trace)


def derivatives(l255):
    """(4-neighbour Laplacian, squared central gradient magnitude) of a luma plane's interior."""
    lap = (4.0 * l255[1:-1, 1:-1] - l255[:-2, 1:-1] - l255[2:, 1:-1]
           - l255[1:-1, :-2] - l255[1:-1, 2:])
    gx = 0.5 * (l255[1:-1, 2:] - l255[1:-1, :-2])
    gy = 0.5 * (l255[2:, 1:-1] - l255[:-2, 1:-1])
    return lap, gx * gx + gy * gy


def acutance(lap, grad2, sigma):
    """log((Laplacian energy + 1) / (gradient energy + 1)), each less its noise share.

    A step edge blurred over ``s`` pixels has gradient energy ~ 1 / s and
    Laplacian energy ~ 1 / s^3, so their ratio measures the blur width whatever
    the image's contrast or number of edges (which ``sharpness``, the Laplacian's
    variance alone, mixes in). White noise of ``sigma`` adds ``20 sigma^2`` to
    the 4-neighbour Laplacian's mean square and ``sigma^2`` to the central
    gradient's, and would otherwise make a noisy blurred image look sharp; both
    are subtracted (``sigma`` from :func:`noise_sigma` of the same plane; ``lap``
    and ``grad2`` from :func:`derivatives`).
    Measured on bench_discovery's scenes: upscaled low-resolution and motion-blurred
    images against clean ones AUC 0.96 and 0.98 (``sharpness`` 0.72 and 0.72);
    sensor noise 0.43 (no effect).
    """
    if lap.size == 0 or not np.isfinite(sigma):
        return np.nan
    e_lap = max(float(np.mean(lap * lap)) - 20.0 * sigma * sigma, 0.0)
    e_grad = max(float(np.mean(grad2)) - sigma * sigma, 0.0)
    return float(np.log((e_lap + 1.0) / (e_grad + 1.0)))


def colour_cast(r, g, b):
    """Grey-world colour cast: distance of the mean chromaticity from neutral grey.

    The mean (R, G, B) normalized to sum 3 is (1, 1, 1) for a neutral scene; the
    cast is its Euclidean distance from it (0 neutral, up to sqrt(6)).
    """
    means = np.array([r.mean(), g.mean(), b.mean()], dtype=np.float64)
    total = means.sum()
    if total <= 1e-6:
        return 0.0
    return float(np.linalg.norm(3.0 * means / total - 1.0))


def clipping(r, g, b, luma):
    """(share of pixels with a channel at 255, share with luma at or below 2 / 255)."""
    high = np.maximum(np.maximum(r, g), b) >= 254.5 / 255.0
    return float(high.mean()), float((luma <= 2.0 / 255.0).mean())


def vignetting(luma):
    """1 - mean luma of the corners (radius > 0.8) / mean luma of the centre (radius < 0.4).

    Radius is 1 at a corner, 0 at the centre; about 0 without vignetting.
    """
    h, w = luma.shape
    if h < 5 or w < 5:
        return np.nan
    yy = (np.arange(h) - (h - 1) / 2.0) / ((h - 1) / 2.0)
    xx = (np.arange(w) - (w - 1) / 2.0) / ((w - 1) / 2.0)
    radius = np.sqrt((yy[:, None] ** 2 + xx[None, :] ** 2) / 2.0)
    centre = luma[radius < 0.4].mean()
    if centre <= 1e-3:
        return 0.0
    return float(1.0 - luma[radius > 0.8].mean() / centre)


def periodicity(luma):
    """log10(strongest spectral peak / median magnitude) outside the lowest frequencies.

    A Hann window keeps the image borders from making spectral lines; a
    repeating background pattern (stripes, grids, tiles) makes a sharp peak.
    """
    h, w = luma.shape
    if h < 16 or w < 16:
        return np.nan
    window = np.outer(np.hanning(h), np.hanning(w))
    spectrum = np.abs(np.fft.rfft2((luma - luma.mean()) * window))
    fy = np.fft.fftfreq(h)[:, None] * h
    fx = np.fft.rfftfreq(w)[None, :] * w
    spectrum = spectrum[np.hypot(fy, fx) >= 4]
    median = np.median(spectrum)
    if median <= 1e-9:
        return 0.0
    return float(np.log10(spectrum.max() / median))


def texture_fraction(grad2, block=TEXTURE_BLOCK, z=TEXTURE_Z, floor=TEXTURE_FLOOR):
    """Share of ``block`` x ``block`` tiles whose mean squared gradient stands out from the noise.

    The noise floor is the ``floor`` quantile of the tiles' means (the flattest tenth of
    an image holds noise only), not :func:`noise_sigma`, whose median of quantized 8-bit
    differences is biased low by ~7% at sigma 4 (a plain image then looked a quarter
    textured). White noise gives the central gradient's square a standard deviation
    about its mean per pixel, so ``1 / block`` of it over a tile: a tile is textured
    when it exceeds the floor by ``z`` of those. Low-contrast clutter (lines, blobs,
    specks a few levels from the background) covers many tiles with little energy
    each, which the image's total gradient energy (``sharpness``, ``edge_density``)
    leaves to its few strong edges: on bench_discovery's scenes, cluttered against
    clean images AUC 0.95 (``edge_density`` 0.50), sensor noise 0.31
    (noise hides faint texture), a plain image with noise sigma 4 or 20 under 5%.
    """
    h, w = grad2.shape[0] // block * block, grad2.shape[1] // block * block
    if h < block or w < block:
        return np.nan
    tiles = grad2[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(np.mean(tiles > np.quantile(tiles, floor) * (1.0 + z / block) + 1e-6))


def block_crop(image):
    """Central crop of the unscaled image, at most BLOCK_CROP per side, starting on the 8x8 grid."""
    h, w = image.shape[:2]
    y0 = max((h - BLOCK_CROP) // 2, 0) // 8 * 8
    x0 = max((w - BLOCK_CROP) // 2, 0) // 8 * 8
    return image[y0:y0 + BLOCK_CROP, x0:x0 + BLOCK_CROP]


def quality_signals(r, g, b, luma, full_luma255):
    """The :data:`QUALITY_FEATURES` of one image.

    Args:
        r, g, b, luma: planes in [0, 1] (possibly strided down)
        full_luma255: unscaled luma (0-255) of :func:`block_crop`, for blockiness
    """
    high, low = clipping(r, g, b, luma)
    l255 = luma * 255.0
    sigma = noise_sigma(l255)
    if min(l255.shape) >= 3:
        lap, grad2 = derivatives(l255)
        sharp, texture = acutance(lap, grad2, sigma), texture_fraction(grad2)
    else:
        sharp = texture = np.nan
    return [sigma, blockiness(full_luma255), blur_anisotropy(luma), sharp,
            colour_cast(r, g, b), high, low, vignetting(luma), periodicity(luma), texture]
