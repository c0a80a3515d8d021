"""Use a finished run's model on a user's own image: checked before it is read, loaded safely."""
from __future__ import annotations

import io

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# The models take 8..32 px images; a phone photo is 12 MP. Decoding happens in the shared server,
# so the size is checked from the header first: a 2 MB PNG can claim gigabytes of pixels.
MAX_PIXELS = 16_000_000
IMAGE_TYPES = ("png", "jpg", "jpeg", "bmp", "gif", "webp")
_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"BM", b"GIF8", b"RIFF")


class BadImage(ValueError):
    pass


def check_upload(name: str, size: int, head: bytes) -> None:
    """Refuse before decoding: size, extension and the file's own signature."""
    if size > MAX_UPLOAD_BYTES:
        raise BadImage(f"{name} is {size / 2**20:.1f} MB; images up to "
                       f"{MAX_UPLOAD_BYTES // 2**20} MB are accepted.")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in IMAGE_TYPES or not head.startswith(_MAGIC):
        raise BadImage(f"{name} is not a PNG, JPEG, BMP, GIF or WebP image.")


def _open(data: bytes):
    """The image with only its header read; BadImage when it claims more than MAX_PIXELS."""
    from PIL import Image

    # PIL's own bomb check (in every Image.open of this process) at our limit, not its 89 MP
    if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    limit = f"at most {MAX_PIXELS / 1e6:g} megapixels are accepted"
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        # raised past twice the limit, before PIL tells the size
        raise BadImage(f"the image has more than {2 * MAX_PIXELS / 1e6:g} megapixels; "
                       f"{limit}.") from None
    except Exception as e:  # noqa: BLE001 - any decoder error is the same to a user
        raise BadImage(f"the image could not be read ({type(e).__name__})") from None
    if img.width * img.height > MAX_PIXELS:
        raise BadImage(f"the image is {img.width:,} x {img.height:,} pixels; {limit}.")
    return img


def to_input(data: bytes, shape: tuple[int, int, int], mean, std, invert: bool):
    """Bytes -> a normalised (1, C, H, W) tensor shaped like the training images. Digits and
    MNIST are light strokes on black, so a dark-on-white drawing is inverted when asked."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps

    img = _open(data)
    c, h, w = shape
    # JPEG decodes at 1/2..1/8 scale for free: a 12 MP photo then costs ~1 MB, not 36
    img.draft(None, (max(256, 8 * w), max(256, 8 * h)))
    try:
        img.load()
    except Exception as e:  # noqa: BLE001 - any decoder error is the same to a user
        raise BadImage(f"the image could not be read ({type(e).__name__})") from None
    img = img.convert("L" if c == 1 else "RGB")
    if invert:
        img = ImageOps.invert(img)
    img = ImageOps.fit(img, (w, h), Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
    x = x[None, None] if c == 1 else x.permute(2, 0, 1)[None]
    return ((x - mean) / std), np.asarray(img)


def load_model(lab, cfg, model_path):
    """The run's network rebuilt from its config, weights loaded with weights_only=True."""
    model, _ = lab.blueprint(cfg)
    return load_weights(model, model_path)


def load_weights(model, model_path):
    """A saved state_dict into `model`, read with weights_only=True (no code from the file)."""
    import torch

    state = torch.load(model_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def classify(lab, cfg, model_path, data: bytes, invert: bool):
    """(classes, probabilities, the image as the model saw it) for a finished run."""
    import torch

    _open(data)                     # a bomb is refused before the data and the model are loaded
    images = lab.load_data(cfg)
    model = load_model(lab, cfg, model_path)
    x, seen = to_input(data, images.input_shape, images.extra["mean"][0], images.extra["std"][0],
                       invert)
    with torch.no_grad():
        probs = torch.softmax(model(x.contiguous()).float(), 1)[0].tolist()
    return list(images.classes), probs, seen
