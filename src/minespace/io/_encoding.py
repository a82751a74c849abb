"""Text encodings of input files: detect non-UTF-8 text instead of garbling it.

CSV/TSV files, GeoJSON and the ``.dbf`` of a Shapefile carry text without (reliably)
saying its encoding. Each is decoded as UTF-8 (a byte-order mark is dropped) unless
``encoding=`` names another; text that is not valid in the encoding used stops with a
:class:`~minespace.errors.LayerError` naming the file, the line, and the option to set.
Never with replacement characters or silent Latin-1 mojibake.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import Path

from ..errors import LayerError, Problem

__all__ = ["check_encoding_name", "decode_text", "shapefile_encoding", "vector_source"]

UTF8_BOM = codecs.BOM_UTF8
#: Formats whose text encoding minespace checks (others are UTF-8 by specification:
#: GeoPackage, FlatGeobuf, GeoParquet; or declare it themselves: KML, GML).
ENCODED_SUFFIXES = {".csv", ".tsv", ".txt", ".geojson", ".json", ".shp", ".dbf", ".zip"}


def check_encoding_name(encoding: str, source: str) -> str:
    """The codec's canonical name; a :class:`LayerError` for an unknown one."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise LayerError([Problem(source, None, None, f"unknown encoding {encoding!r}",
                                  "use a Python codec name such as 'utf-8', 'cp1251' "
                                  "(Windows Cyrillic), 'cp1250' (Central European), "
                                  "'latin-1'")]) from None


def _guess(data: bytes) -> tuple[str, str]:
    """A likely 8-bit encoding for the hint: cp1251 when it reads as Cyrillic."""
    high = re.sub(rb"[\x00-\x7f]+", b"", data[:200_000])
    text = high.decode("cp1251", errors="replace")
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in text)
    if high and cyrillic >= 0.8 * len(text):
        return "cp1251", "Windows Cyrillic, likely here"
    return "cp1252", "Western European; 'cp1250' for Central European"


def _hint(data: bytes, fix: str) -> str:
    codec, label = _guess(data)
    return (f"set encoding='{codec}' ({label}; in a pipeline config: encoding = \"{codec}\" "
            f"under [input.<layer>]), {fix}")


def _where(data: bytes, pos: int) -> str:
    line = data.count(b"\n", 0, pos) + 1
    return f"line {line}, byte 0x{data[pos]:02x}"


def _not_utf8(source: str, data: bytes, exc: UnicodeDecodeError) -> LayerError:
    return LayerError([Problem(
        source, _where(data, exc.start), None,
        "the text is not UTF-8 (names would come out garbled)",
        _hint(data, "or save the file as UTF-8"))])


def decode_text(data: bytes, source: str, encoding: str | None) -> str:
    """*data* decoded: UTF-8 (BOM dropped) by default, else *encoding*, strictly."""
    name = "utf-8" if encoding is None else check_encoding_name(encoding, source)
    if name == "utf-8":
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _not_utf8(source, data, exc) from None
    try:
        return data.decode(name)
    except UnicodeDecodeError as exc:
        raise LayerError([Problem(source, _where(data, exc.start), None,
                                  f"the text is not valid {name}",
                                  "check the file's encoding (encoding=...)")]) from None


# -- Shapefile (.dbf) ------------------------------------------------------------------

def _dbf_text(dbf: bytes) -> bytes:
    """The records of a dBASE file (after its header)."""
    if len(dbf) < 32:
        return b""
    header_len = int.from_bytes(dbf[8:10], "little")
    return dbf[header_len:]


def _shapefile_parts(path: Path) -> tuple[bytes | None, bool]:
    """The .dbf bytes of a Shapefile (or zipped one) and whether a .cpg comes with it."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dbfs = [n for n in names if n.lower().endswith(".dbf")]
            has_cpg = any(n.lower().endswith(".cpg") for n in names)
            return (zf.read(dbfs[0]) if len(dbfs) == 1 else None), has_cpg
    stem = path.with_suffix("")
    siblings = {p.name.lower(): p for p in path.parent.glob(stem.name + ".*")}
    dbf = siblings.get(stem.name.lower() + ".dbf")
    has_cpg = stem.name.lower() + ".cpg" in siblings
    return (dbf.read_bytes() if dbf is not None else None), has_cpg


def shapefile_encoding(path: Path, source: str, encoding: str | None) -> str | None:
    """Encoding to read a Shapefile's attributes with (``None``: let GDAL decide).

    A ``.cpg`` file or a code page in the ``.dbf`` header (its language driver byte)
    tells GDAL the encoding. Without either, GDAL assumes ISO-8859-1, which turns
    UTF-8 and Windows code pages into mojibake silently: then the records are checked
    and read as UTF-8 when they are (or plain ASCII), else refused unless
    *encoding* is given.
    """
    if encoding is not None:
        return check_encoding_name(encoding, source)
    try:
        dbf, has_cpg = _shapefile_parts(path)
    except (OSError, zipfile.BadZipFile):
        return None  # GDAL reports an unreadable file
    if dbf is None or has_cpg or (len(dbf) > 29 and dbf[29] != 0):
        return None
    records = _dbf_text(dbf)
    if records.isascii():
        return None
    try:
        records.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LayerError([Problem(
            source, None, None,
            f"the .dbf has no .cpg file naming its encoding and its text is not UTF-8 "
            f"(byte 0x{records[exc.start]:02x}); GDAL would read it as Latin-1 and garble "
            "the names",
            _hint(records, "or add a .cpg file containing the encoding name"))]) from None
    return "UTF-8"


# -- dispatch ----------------------------------------------------------------------------

def vector_source(path: Path, source: str, encoding: str | None) -> tuple[object, dict]:
    """What to give ``geopandas.read_file`` for *path* and extra keyword arguments.

    GeoJSON must be UTF-8 for GDAL: a file in another encoding named by *encoding*
    is decoded here and handed over re-encoded as UTF-8 (in memory).
    """
    suffix = path.suffix.lower()
    if suffix in (".shp", ".dbf", ".zip"):
        if suffix == ".zip" and not _zip_has_shapefile(path):
            return path, _no_encoding(source, suffix, encoding)
        enc = shapefile_encoding(path, source, encoding)
        return path, ({"encoding": enc} if enc else {})
    if suffix in (".geojson", ".json"):
        data = path.read_bytes()
        if encoding is None:
            try:
                data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise _not_utf8(source, data, exc) from None
            return path, {}
        text = decode_text(data, source, encoding)
        return io.BytesIO(text.encode("utf-8")), {}
    return path, _no_encoding(source, suffix, encoding)


def _zip_has_shapefile(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.lower().endswith(".dbf") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _no_encoding(source: str, suffix: str, encoding: str | None) -> dict:
    if encoding is not None:
        raise LayerError([Problem(source, None, None,
                                  f"encoding= does not apply to {suffix} files (their text is "
                                  "UTF-8 by specification or declared in the file)",
                                  "remove encoding=; it is for CSV, Shapefile and GeoJSON")])
    return {}
