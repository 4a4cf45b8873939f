"""``deid inspect``: what privacy-relevant metadata a file carries, in readable form.

Reads only; it is the same detection the report's ``metadata_found`` comes from, with
the values behind each category.
"""

from __future__ import annotations

import io
import re
import stat
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

from deid.discover import FAIL, IMAGE, NOT_REGULAR_REASON, discover, read_regular_file
from deid.formats import reader_for, register_openers
from deid.metadata import find_metadata

_IPTC_NAMES = {
    (2, 5): "object name", (2, 25): "keywords", (2, 55): "date created", (2, 60): "time created",
    (2, 80): "by-line", (2, 85): "by-line title", (2, 90): "city", (2, 92): "sublocation",
    (2, 95): "province/state", (2, 101): "country", (2, 103): "transmission reference",
    (2, 105): "headline", (2, 110): "credit", (2, 115): "source", (2, 116): "copyright notice",
    (2, 118): "contact", (2, 120): "caption", (2, 122): "caption writer",
}
_XMP_SKIP_PREFIXES = ("rdf", "x", "xmlns", "xml", "stEvt", "stRef")


def inspect_paths(paths: list[Path]) -> dict[str, Any]:
    """Per-file findings for files and folders (folders searched recursively), plus counts."""
    files: list[dict[str, Any]] = []
    for path in paths:
        if path.is_dir():
            for source in discover(path):
                if source.kind == IMAGE:
                    files.append(inspect_file(source.path))
                elif source.kind == FAIL:  # named as an image but not one: deid run fails it too
                    files.append({"file": str(source.path), "error": source.reason})
        elif path.exists():
            files.append(inspect_file(path))
        else:
            files.append({"file": str(path), "error": "no such file"})
    counts = Counter(c for f in files for c in f.get("categories", []))
    return {
        "files": files,
        "summary": {
            "files": len(files),
            "with_privacy_metadata": sum(1 for f in files if f.get("categories")),
            "by_category": dict(sorted(counts.items())),
        },
    }


def inspect_file(path: Path) -> dict[str, Any]:
    register_openers()
    result: dict[str, Any] = {"file": str(path)}
    try:
        # A path named on the command line is followed if it is a link, but only to a
        # regular file: a named pipe is reported, never opened.
        if not stat.S_ISREG(path.stat().st_mode):
            result["error"] = NOT_REGULAR_REASON
            return result
        data = read_regular_file(path.resolve())
        with Image.open(io.BytesIO(data)) as image:
            result["format"] = image.format
            result["categories"] = find_metadata(image, data)
            result.update(_details(image))
    except UnidentifiedImageError:
        result["error"] = "not a recognised image (its content is not any image format deid reads)"
    except (OSError, SyntaxError, ValueError) as exc:
        result["error"] = " ".join(str(exc).split()) or type(exc).__name__
    return result


def _details(image: Image.Image) -> dict[str, Any]:
    fmt = reader_for(image.format)
    details: dict[str, Any] = {}
    try:
        exif = image.getexif()
        ifd0 = dict(exif)
        exif_ifd = dict(exif.get_ifd(ExifTags.IFD.Exif))
        gps = dict(exif.get_ifd(ExifTags.IFD.GPSInfo))
        ifd1 = dict(exif.get_ifd(ExifTags.IFD.IFD1))
    except Exception:  # unreadable EXIF: report what else there is
        ifd0, exif_ifd, gps, ifd1 = {}, {}, {}, {}
    tags = {**ifd0, **exif_ifd}
    position = _gps_position(gps)
    if position:
        details["gps"] = position
    named = {
        "device": {"make": 0x010F, "model": 0x0110, "lens make": 0xA433, "lens model": 0xA434,
                   "body serial": 0xA431, "lens serial": 0xA435},
        "owner": {"artist": 0x013B, "copyright": 0x8298, "camera owner": 0xA430},
        "datetimes": {"original": 0x9003, "digitized": 0x9004, "modified": 0x0132},
        "software": {"software": 0x0131, "host computer": 0x013C},
        "description": {"image description": 0x010E, "user comment": 0x9286},
    }
    for group, fields in named.items():
        values = {name: _text(tags[tag]) for name, tag in fields.items() if tags.get(tag) not in (None, "", b"")}
        values = {name: value for name, value in values.items() if value}
        if values:
            details[group] = values
    thumbnails = _thumbnails(image, ifd1)
    if thumbnails:
        details["thumbnails"] = thumbnails
    xmp = fmt.xmp_packet(image)
    if xmp:
        details["xmp"] = _xmp_fields(xmp if isinstance(xmp, str) else xmp.decode("utf-8", "replace"))
    iptc = fmt.iptc(image)
    if iptc:
        details["iptc"] = {
            _IPTC_NAMES.get(key, f"{key[0]}:{key[1]}"): _text(value) for key, value in iptc.items() if key[0] == 2
        }
    if image.info.get("comment"):
        details["comment"] = _text(image.info["comment"])
    text = fmt.text_chunks(image)
    if text:
        details["text"] = {key: value[:200] for key, value in text.items()}
    if image.info.get("icc_profile"):
        details["icc"] = _icc_description(image.info["icc_profile"])
    return details


def _gps_position(gps: dict[int, Any]) -> dict[str, Any] | None:
    def degrees(value: Any, ref: Any, negative: str) -> float | None:
        try:
            d, m, s = (float(v) for v in value)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        sign = -1 if _text(ref).upper().startswith(negative) else 1
        return round(sign * (d + m / 60 + s / 3600), 6)

    latitude = degrees(gps.get(2), gps.get(1, "N"), "S")
    longitude = degrees(gps.get(4), gps.get(3, "E"), "W")
    if latitude is None and longitude is None:
        return {"tags": len(gps)} if gps else None
    position: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    try:
        altitude = float(gps[6])
        position["altitude_m"] = round(-altitude if gps.get(5) in (1, b"\x01") else altitude, 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        pass
    return position


def _thumbnails(image: Image.Image, ifd1: dict[int, Any]) -> list[dict[str, Any]]:
    found = []
    exif_bytes = image.info.get("exif")
    offset, length = ifd1.get(0x0201), ifd1.get(0x0202)
    if ifd1:
        entry: dict[str, Any] = {"kind": "EXIF IFD1"}
        if exif_bytes and offset and length:
            tiff = exif_bytes[6:] if exif_bytes.startswith(b"Exif\x00\x00") else exif_bytes
            entry["bytes"] = int(length)
            try:
                with Image.open(io.BytesIO(tiff[offset : offset + length])) as thumb:
                    entry["width"], entry["height"] = thumb.size
            except Exception:  # a thumbnail we cannot decode is still reported
                pass
        found.append(entry)
    for size in image.info.get("thumbnails") or []:  # HEIF thumbnail items: longest side
        found.append({"kind": "HEIF thumbnail item", "size": int(size)})
    return found


def _xmp_fields(xmp: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in re.findall(r'\b(\w+:\w+)="([^"]*)"', xmp):
        if not name.startswith(_XMP_SKIP_PREFIXES) and value:
            fields.setdefault(name, value[:200])
    for name, value in re.findall(r"<(\w+:\w+)>([^<]+)</\1>", xmp):
        if not name.startswith(_XMP_SKIP_PREFIXES) and value.strip():
            fields.setdefault(name, value.strip()[:200])
    for name in re.findall(r"<(\w+:\w+)>\s*<rdf:(?:Seq|Bag|Alt)>", xmp):
        items = re.findall(rf"<{name}>\s*<rdf:\w+>(.*?)</rdf:\w+>\s*</{name}>", xmp, re.S)
        values = re.findall(r"<rdf:li[^>]*>([^<]*)</rdf:li>", items[0]) if items else []
        if values and not name.startswith(_XMP_SKIP_PREFIXES):
            fields.setdefault(name, "; ".join(v.strip() for v in values)[:200])
    return fields


def _icc_description(icc: bytes) -> str:
    try:
        from PIL import ImageCms

        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except Exception:
        return f"{len(icc)} bytes"


# EXIF UserComment starts with an 8-byte character code, not part of the comment.
_CHARSET_CODES = (b"ASCII\0\0\0", b"UNICODE\0", b"JIS\0\0\0\0\0", b"\0" * 8)


def _text(value: Any) -> str:
    if isinstance(value, str) and value[:8].encode("latin-1", "replace") in _CHARSET_CODES:
        value = value[8:]
    if isinstance(value, bytes) and value[:8] in _CHARSET_CODES:
        value = value[8:].decode("utf-16" if value.startswith(b"UNICODE") else "utf-8", "replace")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).replace("\x00", " ").split())


def format_report(result: dict[str, Any], folder_mode: bool) -> str:
    """Readable text: every finding per file, or for folders a summary and the files
    that carry a GPS position."""
    lines = []
    if folder_mode:
        summary = result["summary"]
        lines.append(f"{summary['files']} image files, {summary['with_privacy_metadata']} with privacy-relevant metadata")
        for category, count in summary["by_category"].items():
            lines.append(f"  {category}: {count} files")
        located = [f for f in result["files"] if "gps" in f]
        if located:
            lines.append("files with a GPS position:")
            lines += [f"  {f['file']}: {_position_text(f['gps'])}" for f in located]
        return "\n".join(lines)
    for entry in result["files"]:
        lines.append(f"{entry['file']} ({entry.get('format', '?')})")
        if "error" in entry:
            lines.append(f"  cannot read: {entry['error']}")
            continue
        if not entry["categories"]:
            lines.append("  nothing privacy-relevant found")
            continue
        lines.append(f"  categories: {', '.join(entry['categories'])}")
        if "gps" in entry:
            lines.append(f"  GPS position: {_position_text(entry['gps'])}")
        for group in ("device", "owner", "datetimes", "software", "description", "iptc", "xmp", "text"):
            for name, value in entry.get(group, {}).items():
                lines.append(f"  {group}: {name}: {value}")
        for thumb in entry.get("thumbnails", []):
            size = f"{thumb['width']}x{thumb['height']}" if "width" in thumb else thumb.get("size", "?")
            lines.append(f"  embedded thumbnail ({thumb['kind']}): {size}")
        if "comment" in entry:
            lines.append(f"  comment: {entry['comment']}")
        if "icc" in entry:
            lines.append(f"  ICC profile: {entry['icc']}")
    return "\n".join(lines)


def _position_text(gps: dict[str, Any]) -> str:
    if gps.get("latitude") is None:
        return f"{gps.get('tags', 0)} GPS tags, no position"
    text = f"{gps['latitude']:.6f}, {gps['longitude']:.6f}"
    if "altitude_m" in gps:
        text += f" (altitude {gps['altitude_m']} m)"
    return text
