"""The image at a pass's scale, window by window, with OpenCV's resampling (5 to 13 times
faster than Pillow's on the sizes deid sees: 1.5x of a 640 x 480 photo, 0.8 ms against
10.6 ms).

Shrinking uses area averaging (no aliasing: every source pixel counts) over the whole
image once per scale; the result is smaller than the image, so memory does not grow.
Enlarging uses bilinear interpolation, over the whole image once when the result is at
most WHOLE_UPSCALE_PIXELS, otherwise window by window from just the source pixels under
each window, so that an upscaled pass of a large photo never holds more than one window.
"""

from __future__ import annotations

import numpy as np

from deid.boxes import Window

# An upscaled image of up to this many pixels (12 MB of RGB) is resampled whole, once.
WHOLE_UPSCALE_PIXELS = 4_000_000

class Resampler:
    """Windows of one image (H x W x 3 uint8) at any scale; whole scaled images are kept
    for the life of this object (one image's detection)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self._whole: dict[tuple[int, int], np.ndarray] = {}

    def window(self, scaled_w: int, scaled_h: int, window: Window) -> np.ndarray:
        """The pixels of ``window`` (xyxy) of the image resized to scaled_w x scaled_h."""
        height, width = self.image.shape[:2]
        x0, y0, x1, y1 = window
        if (scaled_w, scaled_h) == (width, height):
            return np.ascontiguousarray(self.image[y0:y1, x0:x1])
        shrinking = scaled_w * scaled_h < width * height
        if shrinking or scaled_w * scaled_h <= WHOLE_UPSCALE_PIXELS:
            key = (scaled_w, scaled_h)
            if key not in self._whole:
                self._whole[key] = resize(self.image, scaled_w, scaled_h)
            return np.ascontiguousarray(self._whole[key][y0:y1, x0:x1])
        return upscaled_window(self.image, scaled_w, scaled_h, window)


def limit_resampling_threads(threads: int) -> None:
    """OpenCV resamples on a thread pool of every core; a worker is one core, so that
    --workers N uses N cores and no more (this process's setting: a worker's own)."""
    import cv2

    cv2.setNumThreads(threads)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def upscaled_window(image: np.ndarray, scaled_w: int, scaled_h: int, window: Window) -> np.ndarray:
    """Bilinear pixels of ``window`` of the image enlarged to scaled_w x scaled_h, from the
    source pixels under it (and one beyond, for the interpolation): the same pixels as
    the window of the whole image enlarged."""
    import cv2

    height, width = image.shape[:2]
    x0, y0, x1, y1 = window
    fx, fy = width / scaled_w, height / scaled_h
    # Source crop: the window's footprint and one pixel around it.
    cx0, cy0 = max(0, int(np.floor((x0 + 0.5) * fx - 0.5)) - 1), max(0, int(np.floor((y0 + 0.5) * fy - 0.5)) - 1)
    cx1 = min(width, int(np.ceil((x1 - 0.5) * fx - 0.5)) + 2)
    cy1 = min(height, int(np.ceil((y1 - 0.5) * fy - 0.5)) + 2)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
    # Output pixel (u, v) of the window samples the source at the pixel centre that the
    # whole-image resize would: ((x0 + u + 0.5) * fx - 0.5, ...), here relative to the crop.
    inverse = np.array([[fx, 0.0, (x0 + 0.5) * fx - 0.5 - cx0],
                        [0.0, fy, (y0 + 0.5) * fy - 0.5 - cy0]])
    return cv2.warpAffine(crop, inverse, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
