"""Pictures from files or bytes, checked and made ready for a vision model's encoder.

Pillow (HPND licence) decodes PNG, JPEG, WebP and GIF. Everything about an image file is
user data, so each step is bounded: the size is read from the header and a picture of more
than :data:`MAX_PIXELS` is refused before any pixel is decoded (a 50,000 x 50,000 PNG is a few
kilobytes on disk and 7.5 GB decoded); only the first frame of an animation is decoded (a GIF
of 10,000 frames costs one); EXIF orientation is applied; the picture is scaled so its longer
side is at most ``max_side`` before it is sent to the engine. A truncated or malformed file
is one line. Kept pictures live in the data folder under their sha256
(:func:`store_image`), so History refers to them by hash.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import re
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlite_utils import Database

from workbench.engine.vision import Picture
from workbench.errors import InvalidInputError

#: The most pixels decoded (64 megapixels: a 8000 x 8000 photo), checked from the header.
MAX_PIXELS = 64_000_000
#: The most bytes read from one image file.
MAX_BYTES = 64 * 1024 * 1024
#: The longer side sent to the encoder; projectors resize to their own (336-896) anyway.
MAX_SIDE = 1024
FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


def read_image_file(path: str | Path) -> bytes:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"image {path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise InvalidInputError(f"image {path}: larger than {MAX_BYTES // (1 << 20)} MiB")
    return path.read_bytes()


def picture_from_bytes(data: bytes, name: str, max_side: int = MAX_SIDE) -> Picture:
    """Decode ``data`` (named ``name`` in errors) into an RGB :class:`Picture`."""
    if len(data) > MAX_BYTES:
        raise InvalidInputError(f"image {name}: larger than {MAX_BYTES // (1 << 20)} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=list(FORMATS))
            width, height = image.size  # from the header: nothing decoded yet
            if width * height > MAX_PIXELS:
                raise InvalidInputError(
                    f"image {name}: {width:,} x {height:,} pixels is more than the "
                    f"{MAX_PIXELS // 1_000_000} megapixels allowed (refused before decoding)")
            image.seek(0)  # the first frame only
            image.load()
            image = ImageOps.exif_transpose(image) or image
            image = image.convert("RGB")
    except InvalidInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own guard, also from the header, fires first on the largest claims.
        found = re.search(r"\((\d+) pixels\)", str(error))
        count = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise InvalidInputError(
            f"image {name}: {count} is more than the {MAX_PIXELS // 1_000_000} megapixels "
            "allowed (refused before decoding)") from None
    except UnidentifiedImageError as error:
        raise InvalidInputError(f"image {name}: not a PNG, JPEG, WebP or GIF picture "
                                f"({str(error).splitlines()[0][:120]})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise InvalidInputError(f"image {name}: the file is damaged or truncated "
                                f"({str(error).splitlines()[0][:120]})") from None
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    digest = hashlib.sha256(data).hexdigest()
    return Picture(image.width, image.height, image.tobytes(), digest)


def image_format(data: bytes) -> str:
    """The file extension for ``data`` (png, jpg, webp, gif), from its header."""
    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
            return FORMATS.get(image.format or "", "bin")
    except (UnidentifiedImageError, OSError):
        return "bin"


def store_image(root: Path, data: bytes) -> tuple[str, Path]:
    """Keep ``data`` under ``root/images/<first two hex>/<sha256>.<ext>`` (once: the same
    picture sent twice is one file); returns its sha256 and path."""
    digest = hashlib.sha256(data).hexdigest()
    target = root / "images" / digest[:2] / f"{digest}.{image_format(data)}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(target)
    return digest, target


def data_root(db: Database) -> Path:
    """The data folder a connection's database lives in (images are kept beside it)."""
    row = db.execute("pragma database_list").fetchone()
    return Path(row[2]).parent


def keep_image(db: Database, data: bytes) -> str:
    """Keep checked image ``data`` in the data folder and the ``images`` table (once per
    sha256); returns the sha256 by which History, suites and comparisons refer to it."""
    digest, target = store_image(data_root(db), data)
    with Image.open(target) as image:
        width, height = image.size
    db.table("images").upsert(
        {"sha256": digest, "path": str(target), "format": image_format(data),
         "width": width, "height": height, "bytes": len(data),
         "added_at": datetime.datetime.now(datetime.timezone.utc).isoformat()},
        pk="sha256")
    return digest


def attach_images(db: Database, message_id: int, files: list[str | Path]) -> list[str]:
    """Keep each image file by sha256 and record it on the user message ``message_id``, in
    order; each is checked first (one line for a bad one, nothing kept)."""
    datas = [read_image_file(path) for path in files]
    for path, data in zip(files, datas, strict=True):
        picture_from_bytes(data, str(path))
    digests = []
    for position, data in enumerate(datas):
        digest = keep_image(db, data)
        db.table("message_images").insert(
            {"message_id": message_id, "position": position, "sha256": digest})
        digests.append(digest)
    return digests


def kept_pictures(db: Database, digests: list[str]) -> list[Picture]:
    """The kept pictures with these sha256s, in order, decoded again (one line for one no
    longer in the data folder)."""
    pictures = []
    for digest in digests:
        row = next(iter(db.query("select path from images where sha256 = ?", [digest])), None)
        if row is None or not Path(row["path"]).is_file():
            raise InvalidInputError(f"image {digest[:12]}: no longer in the data folder")
        pictures.append(picture_from_bytes(Path(row["path"]).read_bytes(), digest[:12]))
    return pictures


def message_pictures(db: Database, message_id: int) -> list[Picture]:
    """The pictures a stored message carries, decoded again from the kept files."""
    rows = db.query("select images.path, images.sha256 from message_images join images "
                    "using (sha256) where message_id = ? order by position", [message_id])
    return [picture_from_bytes(Path(row["path"]).read_bytes(), row["sha256"]) for row in rows]


def message_image_paths(db: Database, message_ids: list[int]) -> dict[int, list[str]]:
    """The kept files of the pictures each message carries, in order (for thumbnails)."""
    if not message_ids:
        return {}
    marks = ",".join("?" * len(message_ids))
    found: dict[int, list[str]] = {}
    for row in db.query(f"select message_id, images.path from message_images join images "
                        f"using (sha256) where message_id in ({marks}) order by message_id, "
                        "position", message_ids):
        found.setdefault(int(row["message_id"]), []).append(row["path"])
    return found


def copy_message_images(db: Database, from_id: int, to_id: int) -> None:
    """An edited message carries the pictures of the one it replaces."""
    for row in db.query("select position, sha256 from message_images where message_id = ? "
                        "order by position", [from_id]):
        db.table("message_images").insert({"message_id": to_id, **row})


def prune_unused(db: Database, keep: set[str] | frozenset[str] = frozenset()) -> int:
    """Delete the kept pictures nothing refers to any more (no message, suite prompt or
    comparison), files and rows, except those in ``keep``; returns how many went."""
    used = {row["sha256"] for row in db.query("select distinct sha256 from message_images")}
    for table in ("suite_prompts", "comparisons"):
        for row in db.query(f"select images from {table} where images is not null"):
            used.update(json.loads(row["images"]))
    gone = 0
    for row in list(db.query("select sha256, path from images")):
        if row["sha256"] in used or row["sha256"] in keep:
            continue
        try:
            Path(row["path"]).unlink(missing_ok=True)
        except OSError:  # a file that cannot go now is tried again next time
            continue
        db.table("images").delete(row["sha256"])
        gone += 1
    return gone
