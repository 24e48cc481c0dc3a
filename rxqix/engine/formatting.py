"""Number formatting and wire values for the local engine.

The engine sends every number twice: as ``qNum`` (a JSON number, or the
string ``"NaN"``) and as ``qText``, formatted either automatically (integers
plainly, reals with up to 14 significant digits) or by a ``qNumFormat``
(``FieldAttributes``) such as ``{"qType": "F", "qFmt": "#,##0.00"}``.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

NAN_TEXT = "NaN"
NULL_TEXT = "-"
DECIMAL_SEP = "."
THOUSAND_SEP = ","

# Largest float that still counts as an exact integer on the wire.
_EXACT_INT = 2.0**53
# Integers below this show plainly in the auto format, beyond in e-notation.
_PLAIN_INT = 1e15

# Qlik serial dates count days from 1899-12-30.
_EPOCH = _dt.datetime(1899, 12, 30)

# Auto formats as the engine reports them in qNumFormat (en-US separators).
INTEGER_FORMAT: dict[str, Any] = {
    "qType": "I",
    "qnDec": 0,
    "qUseThou": 1,
    "qFmt": "###0",
    "qDec": DECIMAL_SEP,
}
REAL_FORMAT: dict[str, Any] = {
    "qType": "R",
    "qnDec": 0,
    "qUseThou": 0,
    "qFmt": "##############",
    "qDec": DECIMAL_SEP,
    "qThou": THOUSAND_SEP,
}
UNKNOWN_FORMAT: dict[str, Any] = {"qType": "U", "qnDec": 0, "qUseThou": 0}


def wire_num(value: float) -> float | int | str:
    """Return ``value`` as the engine puts it in ``qNum``.

    Args:
        value: The number; NaN stands for "no number".

    Returns:
        ``"NaN"`` for NaN, an int for integral values (so JSON shows ``2013``
        rather than ``2013.0``), else the float.
    """
    if math.isnan(value):
        return NAN_TEXT
    if math.isinf(value):
        return NAN_TEXT
    if value.is_integer() and abs(value) < _EXACT_INT:
        return int(value)
    return value


def format_auto(value: float) -> str:
    """Format a number the way an auto-formatted field or measure shows it.

    Args:
        value: A finite number (callers map NaN to ``"-"`` themselves).

    Returns:
        ``"2013"`` for integers, up to 14 significant digits for reals.
    """
    if math.isnan(value) or math.isinf(value):
        return NULL_TEXT
    if value.is_integer() and abs(value) < _PLAIN_INT:
        return str(int(value))
    text = f"{value:.14g}"
    if "e" in text:
        return _expand_exponent(text)
    return text


def _expand_exponent(text: str) -> str:
    """Rewrite ``1.5e-05`` as ``0.000015``; keep huge numbers in e-notation."""
    mantissa, _, exponent = text.partition("e")
    power = int(exponent)
    if power > 0 or power < -15:
        return text
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    return f"{sign}0.{'0' * (-power - 1)}{digits}".rstrip("0").rstrip(".")


def is_auto_format(num_format: Mapping[str, Any] | None) -> bool:
    """Tell whether a ``qNumFormat`` leaves formatting to the engine.

    Args:
        num_format: A FieldAttributes dict, or None.

    Returns:
        True when there is no format or its qType is ``U`` (unknown).
    """
    if not num_format:
        return True
    return str(num_format.get("qType", "U")) in ("U", "")


def format_number(value: float, num_format: Mapping[str, Any] | None) -> str:
    """Format ``value`` with a ``qNumFormat``, or automatically.

    Args:
        value: The number; NaN gives ``"-"``.
        num_format: FieldAttributes (qType, qnDec, qUseThou, qFmt, qDec,
            qThou), or None for the auto format.

    Returns:
        The text the engine would show in ``qText``.
    """
    return number_formatter(num_format)(value)


def number_formatter(num_format: Mapping[str, Any] | None) -> Callable[[float], str]:
    """Return :func:`format_number` with its ``qNumFormat`` resolved once.

    Reading the format (and parsing a ``qFmt`` pattern) costs more than
    formatting one number, so callers with many numbers resolve it once.

    Args:
        num_format: FieldAttributes, or None for the auto format.

    Returns:
        A function from a number to the text :func:`format_number` gives.
    """
    if num_format is None or is_auto_format(num_format):
        return format_auto
    kind = str(num_format.get("qType", "U"))
    pattern = str(num_format.get("qFmt") or "")
    body: Callable[[float], str]
    if kind in ("D", "T", "TS"):
        date_pattern = pattern or _DEFAULT_DATE_PATTERNS[kind]

        def body(value: float) -> str:
            return format_date(value, date_pattern)

    elif kind == "IV":
        interval_pattern = pattern or "hh:mm:ss"

        def body(value: float) -> str:
            return format_interval(value, interval_pattern)

    else:
        decimal = str(num_format.get("qDec") or DECIMAL_SEP)
        thousand = str(num_format.get("qThou") or THOUSAND_SEP)
        if pattern:
            body = NumberPattern.parse(pattern, decimal, thousand).format
        else:
            decimals = 0 if kind == "I" else int(num_format.get("qnDec", 0) or 0)
            grouping = bool(num_format.get("qUseThou"))

            def body(value: float) -> str:
                return _format_fixed(
                    value, decimals, decimals, grouping, 1, decimal, thousand
                )

    def formatter(value: float) -> str:
        if math.isnan(value) or math.isinf(value):
            return NULL_TEXT
        return body(value)

    return formatter


def format_numbers(
    values: npt.NDArray[np.float64], num_format: Mapping[str, Any] | None
) -> list[str]:
    """Return :func:`format_number` of every value, in order.

    In the auto format, integers are converted all at once and the rest one
    by one; with a ``qNumFormat``, each distinct value is formatted once. Its
    cache merges -0.0 with 0.0, which every format writes alike.

    Args:
        values: The numbers (NaN gives ``"-"``).
        num_format: FieldAttributes, or None for the auto format.

    Returns:
        One text per value.
    """
    if num_format is None or is_auto_format(num_format):
        # Comparisons with NaN are False without a warning.
        plain = (np.abs(values) < _PLAIN_INT) & (np.floor(values) == values)
        if bool(plain.all()):
            return list(map(str, values.astype(np.int64).tolist()))
        return [format_auto(value) for value in values.tolist()]
    formatter = number_formatter(num_format)
    cache: dict[float, str] = {}
    texts: list[str] = []
    for value in values.tolist():
        text = cache.get(value)
        if text is None:
            text = cache[value] = formatter(value)
        texts.append(text)
    return texts


def wire_nums(values: npt.NDArray[np.float64]) -> list[float | int | str]:
    """Return :func:`wire_num` of every value, in order.

    Args:
        values: The numbers; NaN stands for "no number".

    Returns:
        One ``qNum`` per value.
    """
    exact = (np.abs(values) < _EXACT_INT) & (np.floor(values) == values)
    if bool(exact.all()):
        # tolist of int64 gives Python ints, as wire_num does.
        ints: list[float | int | str] = values.astype(np.int64).tolist()
        return ints
    return [wire_num(value) for value in values.tolist()]


_DEFAULT_DATE_PATTERNS = {
    "D": "M/D/YYYY",
    "T": "h:mm:ss TT",
    "TS": "M/D/YYYY h:mm:ss TT",
}


@dataclass(frozen=True)
class NumberPattern:
    """A parsed number pattern such as ``$#,##0.00`` or ``0.0%``."""

    prefix: str
    suffix: str
    min_int_digits: int
    min_decimals: int
    max_decimals: int
    grouping: bool
    percent: bool
    decimal: str
    thousand: str

    @classmethod
    def parse(cls, pattern: str, decimal: str, thousand: str) -> NumberPattern:
        """Split a pattern into literal text around a numeric core.

        Args:
            pattern: The qFmt text.
            decimal: The decimal separator the pattern uses.
            thousand: The thousands separator the pattern uses.

        Returns:
            The parsed pattern.
        """
        # The core runs from the first digit placeholder to the last one.
        match = re.search(r"[#0](.*[#0])?", pattern)
        if match is None:
            return cls(pattern, "", 1, 0, 0, False, "%" in pattern, decimal, thousand)
        core = match.group(0)
        prefix, suffix = pattern[: match.start()], pattern[match.end() :]
        whole, _, fraction = core.partition(decimal)
        return cls(
            prefix=prefix,
            suffix=suffix,
            min_int_digits=whole.count("0"),
            min_decimals=fraction.count("0"),
            max_decimals=fraction.count("0") + fraction.count("#"),
            grouping=bool(thousand) and thousand in whole,
            percent="%" in prefix + suffix,
            decimal=decimal,
            thousand=thousand,
        )

    def format(self, value: float) -> str:
        """Format one number with this pattern."""
        if self.percent:
            value *= 100
        body = _format_fixed(
            abs(value),
            self.min_decimals,
            self.max_decimals,
            self.grouping,
            self.min_int_digits,
            self.decimal,
            self.thousand,
        )
        sign = "-" if value < 0 and any(ch in "123456789" for ch in body) else ""
        return f"{sign}{self.prefix}{body}{self.suffix}"


def _format_fixed(
    value: float,
    min_decimals: int,
    max_decimals: int,
    grouping: bool,
    min_int_digits: int,
    decimal: str,
    thousand: str,
) -> str:
    """Format with a fixed number of decimals and optional digit grouping."""
    # Round half away from zero, as the engine does, not to even.
    scale = 10**max_decimals
    rounded = math.floor(abs(value) * scale + 0.5) / scale
    text = f"{rounded:.{max_decimals}f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(min_decimals, "0")
    whole = whole.rjust(min_int_digits, "0")
    if grouping:
        whole = _group_digits(whole, thousand)
    sign = "-" if value < 0 and (rounded != 0) else ""
    return f"{sign}{whole}{decimal + fraction if fraction else ''}"


def _group_digits(digits: str, thousand: str) -> str:
    """Insert a thousands separator every three digits from the right."""
    groups = []
    while len(digits) > 3:
        groups.append(digits[-3:])
        digits = digits[:-3]
    groups.append(digits)
    return thousand.join(reversed(groups))


_DATE_TOKENS = re.compile(r"YYYY|YY|MMMM|MMM|MM|M|DD|D|hh|h|mm|ss|fff|TT|tt|WWW")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def format_date(value: float, pattern: str) -> str:
    """Format a Qlik serial date/time (days since 1899-12-30).

    Args:
        value: The serial number.
        pattern: Tokens such as ``YYYY-MM-DD hh:mm:ss``.

    Returns:
        The formatted text, or the auto format when the value is out of range.
    """
    try:
        moment = _EPOCH + _dt.timedelta(days=value)
    except OverflowError:
        return format_auto(value)
    twelve_hour = "TT" in pattern or "tt" in pattern

    def token(match: re.Match[str]) -> str:
        part = match.group(0)
        hour = (moment.hour % 12 or 12) if twelve_hour else moment.hour
        values = {
            "YYYY": f"{moment.year:04d}",
            "YY": f"{moment.year % 100:02d}",
            "MMMM": _MONTHS[moment.month - 1],
            "MMM": _MONTHS[moment.month - 1][:3],
            "MM": f"{moment.month:02d}",
            "M": str(moment.month),
            "DD": f"{moment.day:02d}",
            "D": str(moment.day),
            "hh": f"{hour:02d}",
            "h": str(hour),
            "mm": f"{moment.minute:02d}",
            "ss": f"{moment.second:02d}",
            "fff": f"{moment.microsecond // 1000:03d}",
            "TT": "PM" if moment.hour >= 12 else "AM",
            "tt": "pm" if moment.hour >= 12 else "am",
            "WWW": _DAYS[moment.weekday()],
        }
        return values[part]

    return _DATE_TOKENS.sub(token, pattern)


def format_interval(value: float, pattern: str) -> str:
    """Format a duration given in days as ``hh:mm:ss``-style text."""
    seconds = round(abs(value) * 86400)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = pattern.replace("hh", f"{hours:02d}").replace("h", str(hours))
    text = text.replace("mm", f"{minutes:02d}").replace("ss", f"{secs:02d}")
    return ("-" if value < 0 else "") + text
