"""QR geometry and its verification before anything is printed.

The same list of dark runs is drawn into the PDF as vector rectangles and rasterised here at
print resolution for zxing-cpp, so what is verified is exactly what gets printed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import qrcode
import zxingcpp
from qrcode.constants import ERROR_CORRECT_M

QUIET_ZONE = 4  # modules of white on every side, as ISO/IEC 18004 asks
VERIFY_DPI = 300
# Error correction levels we accept from the decoder's report, weakest first.
_ACCEPTED_EC = ("M", "Q", "H")
_QR_CODES = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)  # what we look for


class QRVerificationError(RuntimeError):
    """A QR code did not decode to the link it was made for: nothing may be printed."""


@dataclass(frozen=True, slots=True)
class QRSymbol:
    """A QR code as horizontal runs of dark modules, without the quiet zone."""

    link: str
    size: int  # modules per side
    runs: tuple[tuple[int, int, int], ...]  # (row, first column, length)


def make_symbol(link: str) -> QRSymbol:
    """Encode `link` at error correction M, the smallest version that holds it."""
    matrix = _encode(link)
    n = len(matrix)
    # Run starts and ends are where a row changes colour (rows padded with light).
    padded = np.zeros((n, n + 2), dtype=np.int8)
    padded[:, 1:-1] = matrix
    rows, cols = np.nonzero(np.diff(padded, axis=1))
    starts = zip(rows[0::2].tolist(), cols[0::2].tolist(), cols[1::2].tolist(), strict=True)
    runs = [(row, start, end - start) for row, start, end in starts]
    return QRSymbol(link=link, size=len(matrix), runs=tuple(runs))


def _encode(link: str) -> np.ndarray:
    """The module matrix qrcode makes for `link`, with its mask chosen in numpy.

    qrcode picks the mask the standard's way, by drawing the symbol under all eight masks
    in pure Python and scoring each; that was half the time of a print job. We let it draw
    the symbol once (mask 0), derive the other seven by flipping the data modules, score them
    with the same rules as qrcode's `lost_point`, and let qrcode draw the winner. If our
    derivation ever disagreed with what qrcode draws, we fall back to qrcode's own choice.
    """
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=0)
    code.add_data(link.encode("utf-8"))
    code.make(fit=True)
    first = np.array(code.modules, dtype=bool)
    data_area, blank = _layout(code.version)
    raw = first ^ (_MASKS[0, : len(first), : len(first)] & data_area)
    n = len(first)
    candidates = np.where(data_area, raw ^ _MASKS[:, :n, :n], blank)
    best = int(np.argmin(_penalties(candidates)))  # the first of equals, as qrcode does
    if best != 0:
        code.makeImpl(False, best)
    matrix = np.array(code.modules, dtype=bool)
    expected = raw ^ _MASKS[best, : len(first), : len(first)]
    if not np.array_equal(matrix[data_area], expected[data_area]):  # pragma: no cover
        slow = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
        slow.add_data(link.encode("utf-8"))
        slow.make(fit=True)
        return np.array(slow.modules, dtype=bool)
    return matrix


def _mask_patterns(n: int) -> np.ndarray:
    i, j = np.indices((n, n))
    patterns = [
        (i + j) % 2 == 0,
        i % 2 == 0,
        j % 3 == 0,
        (i + j) % 3 == 0,
        (i // 2 + j // 3) % 2 == 0,
        (i * j) % 2 + (i * j) % 3 == 0,
        ((i * j) % 2 + (i * j) % 3) % 2 == 0,
        ((i * j) % 3 + (i + j) % 2) % 2 == 0,
    ]
    return np.stack(patterns)


_MASKS = _mask_patterns(177)  # version 40; smaller symbols use the top-left corner
_LAYOUTS: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_FINDER_LIKE = (
    (1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0),
    (0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1),
)


def _layout(version: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the data modules are, and the function patterns as qrcode scores them (format
    and version information left light), laid out by qrcode's own public setup methods."""
    if version not in _LAYOUTS:
        code = qrcode.QRCode(version=version, error_correction=ERROR_CORRECT_M, border=0)
        n = code.modules_count = version * 4 + 17
        code.modules = [[None] * n for _ in range(n)]
        code.setup_position_probe_pattern(0, 0)
        code.setup_position_probe_pattern(n - 7, 0)
        code.setup_position_probe_pattern(0, n - 7)
        code.setup_position_adjust_pattern()
        code.setup_timing_pattern()
        code.setup_type_info(True, 0)
        if version >= 7:
            code.setup_type_number(True)
        data_area = np.array([[m is None for m in row] for row in code.modules])
        blank = np.array([[bool(m) for m in row] for row in code.modules])
        _LAYOUTS[version] = (data_area, blank)
    return _LAYOUTS[version]


def _penalties(m: np.ndarray) -> np.ndarray:
    """ISO/IEC 18004 mask penalties of a stack of symbols (masks, n, n), exactly as
    qrcode's `util.lost_point` counts them."""
    n = m.shape[1]
    points = np.zeros(len(m), dtype=np.int64)
    for grid in (m, m.transpose(0, 2, 1)):
        # A run of L >= 5 modules of one colour costs L - 2: one point for each of its
        # L - 4 windows of five equal modules, and two more where such a run starts.
        same = grid[:, :, 1:] == grid[:, :, :-1]
        five = same[:, :, :-3] & same[:, :, 1:-2] & same[:, :, 2:-1] & same[:, :, 3:]
        starts = five.copy()
        starts[:, :, 1:] &= ~same[:, :, : n - 5]
        points += five.sum(axis=(1, 2)) + 2 * starts.sum(axis=(1, 2))
        # Finder-like 1:1:3:1:1 with four light modules on one side: 40 each.
        light = ~grid
        for pattern in _FINDER_LIKE:
            found = np.ones((len(m), n, n - 10), dtype=bool)
            for k, dark in enumerate(pattern):
                found &= (grid if dark else light)[:, :, k : n - 10 + k]
            points += 40 * found.sum(axis=(1, 2))
    # 2 x 2 blocks of one colour: 3 each.
    block = m[:, :-1, :-1].astype(np.int8) + m[:, 1:, :-1] + m[:, :-1, 1:] + m[:, 1:, 1:]
    points += 3 * ((block == 0) | (block == 4)).sum(axis=(1, 2))
    # Dark share away from 50 %: 10 for each full 5 % (in floats, as qrcode computes it).
    for k, dark in enumerate(m.sum(axis=(1, 2)).tolist()):
        points[k] += int(abs(float(dark) / (n * n) * 100 - 50) / 5) * 10
    return points


def rasterise(symbol: QRSymbol, module_px: float) -> np.ndarray:
    """The symbol with its quiet zone as a grayscale raster, `module_px` pixels a module.

    Module edges are rounded to whole pixels, as a printer's raster image processor rounds
    them; the dark modules come from the same runs that are drawn into the PDF.
    """
    side_modules = symbol.size + 2 * QUIET_ZONE
    modules = np.full((side_modules, side_modules), 255, dtype=np.uint8)
    for row, col, length in symbol.runs:
        modules[row + QUIET_ZONE, col + QUIET_ZONE : col + QUIET_ZONE + length] = 0
    # Module k covers pixels [round(k * module_px), round((k + 1) * module_px)).
    edges = np.rint(np.arange(side_modules + 1) * module_px).astype(np.intp)
    widths = np.diff(edges)
    return np.ascontiguousarray(np.repeat(np.repeat(modules, widths, axis=0), widths, axis=1))


def verify_symbol(symbol: QRSymbol, symbol_mm: float, label: str = "") -> None:
    """Decode the symbol rasterised at print resolution; raise unless it reads back exactly."""
    module_px = symbol_mm / symbol.size / 25.4 * VERIFY_DPI
    image = rasterise(symbol, module_px)
    found = zxingcpp.read_barcodes(
        image,
        formats=_QR_CODES,
        try_rotate=False,
        try_downscale=False,
        try_invert=False,
        # The raster is pure black and white: a fixed threshold is exact, and three times
        # faster than the adaptive binarizer that photos need.
        binarizer=zxingcpp.Binarizer.FixedThreshold,
    )
    where = f" ({label})" if label else ""
    if len(found) != 1:
        raise QRVerificationError(
            f"QR code{where} for {symbol.link!r} gave {len(found)} readable codes, not 1"
        )
    decoded = found[0]
    if decoded.text != symbol.link:
        raise QRVerificationError(
            f"QR code{where} decodes to {decoded.text!r}, expected {symbol.link!r}"
        )
    if decoded.ec_level not in _ACCEPTED_EC:
        raise QRVerificationError(
            f"QR code{where} has error correction {decoded.ec_level!r}, M or higher required"
        )
