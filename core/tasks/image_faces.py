"""Find and crop a face in a photo: OpenCV's Haar cascade, shipped inside opencv-python-headless (no download)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

CASCADE = "haarcascade_frontalface_default.xml"
CROP_SIDE = 128  # saved crops: big enough for thumbnails and any model size used here
DETECT_SIDE = 640  # photos are searched at most this large: a camera frame's full size only costs time
MARGIN = 0.25  # of the face box's side, added all round: a bit of hair and chin, as people frame a face


@dataclass
class FaceCrop:
    """A square RGB crop, whether a face was found, and the crop's box (left, top, right, bottom) in the photo."""

    image: Image.Image
    found: bool
    box: tuple[int, int, int, int]

    @property
    def note(self) -> str:
        if self.found:
            return "Face found and cropped."
        return "No face found: the centre of the picture is used instead (face the camera, in good light)."


def detect_faces(img: Image.Image) -> list[tuple[int, int, int, int]]:
    """Faces in a photo as (left, top, width, height) in its own pixels, the surest first."""
    gray = np.asarray(img.convert("L"))
    scale = max(gray.shape) / DETECT_SIDE
    if scale > 1:
        size = (round(gray.shape[1] / scale), round(gray.shape[0] / scale))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    scale = max(scale, 1.0)
    # a fresh classifier per call: loading takes a few milliseconds, and one shared object is not thread-safe
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's {CASCADE} is missing from opencv-python-headless")
    side = max(24, min(gray.shape) // 8)  # a face smaller than an eighth of the picture is not the subject
    found, votes = cascade.detectMultiScale2(
        cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5, minSize=(side, side)
    )
    boxes = [tuple(int(round(v * scale)) for v in box) for box in np.asarray(found).reshape(-1, 4)]
    # the most votes first: a true face is found at many scales and shifts, a stray pattern at a few
    order = np.argsort(-np.asarray(votes).reshape(-1), kind="stable")
    return [boxes[i] for i in order]


def square_box(img_size: tuple[int, int], centre: tuple[float, float], side: float) -> tuple[int, int, int, int]:
    """A square of `side` around `centre`, shrunk to fit and moved inside the image; (left, top, right, bottom)."""
    width, height = img_size
    side = int(min(side, width, height))
    left = int(round(min(max(centre[0] - side / 2, 0), width - side)))
    top = int(round(min(max(centre[1] - side / 2, 0), height - side)))
    return left, top, left + side, top + side


def crop_face(img: Image.Image, side: int = CROP_SIDE, margin: float = MARGIN) -> FaceCrop:
    """The surest face with a margin, as a `side` x `side` RGB square; the centre square when there is none."""
    img = img.convert("RGB")
    faces = detect_faces(img)
    if faces:
        left, top, w, h = faces[0]
        box = square_box(img.size, (left + w / 2, top + h / 2), max(w, h) * (1 + 2 * margin))
    else:
        box = square_box(img.size, (img.width / 2, img.height / 2), min(img.size))
    crop = img.crop(box).resize((side, side), Image.Resampling.LANCZOS)
    return FaceCrop(crop, bool(faces), box)


def centre_square(img: Image.Image, side: int = CROP_SIDE) -> Image.Image:
    """The centre square of a photo as `side` x `side` RGB (the capture path without face mode)."""
    img = img.convert("RGB")
    box = square_box(img.size, (img.width / 2, img.height / 2), min(img.size))
    return img.crop(box).resize((side, side), Image.Resampling.LANCZOS)
