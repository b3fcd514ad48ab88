"""Sizes as the kernel parses them: memparse() and the limit rounding of each version."""
import errno

__all__ = ["memparse", "parse_size", "parse_u64"]

U64_MAX = (1 << 64) - 1
_SHIFT = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


def _strtoull(text):
    """simple_strtoull(text, &end, 0), lib/vsprintf.c: (value, rest); overflow is an error here."""
    base, i = 10, 0
    if text[:2].lower() == "0x" and len(text) > 2 and text[2] in "0123456789abcdefABCDEF":
        base, i = 16, 2
    elif text[:1] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    value, start = 0, i
    while i < len(text) and text[i].lower() in digits:
        value = value * base + digits.index(text[i].lower())
        i += 1
    if value > U64_MAX:
        raise OSError(errno.EINVAL, f"{text!r} does not fit in 64 bits")
    if i == start and base != 8:
        return 0, text
    return value, text[i:]


def memparse(text):
    """memparse(), lib/cmdline.c: a number with an optional K/M/G/T/P/E suffix, any case.

    Returns (value, rest): the kernel's callers fail with EINVAL when rest is not empty.
    """
    value, rest = _strtoull(text)
    if rest and rest[0].lower() in _SHIFT:
        value <<= _SHIFT[rest[0].lower()]
        rest = rest[1:]
        if value > U64_MAX:
            raise OSError(errno.EINVAL, f"{text!r} does not fit in 64 bits")
    return value, rest


def parse_size(size, what="size"):
    """An API argument: an int (bytes) or a memparse string; ValueError if it is neither."""
    if isinstance(size, bool):
        raise ValueError(f"{what} must be bytes or a size string, not {size!r}")
    if isinstance(size, int):
        if size < 0 or size > U64_MAX:
            raise ValueError(f"{what} {size} is out of range")
        return size
    if not isinstance(size, str):
        raise ValueError(f"{what} must be bytes or a size string, not {size!r}")
    try:
        value, rest = memparse(size.strip())
    except OSError as e:
        raise ValueError(f"{what}: {e.strerror}") from None
    if rest or not size.strip():
        raise ValueError(f"{what} {size!r} is not a size (digits with an optional K/M/G suffix)")
    return value


def parse_u64(text):
    """kstrtoull(strstrip(buf), 0): the whole text must be the number."""
    text = text.strip()
    value, rest = _strtoull(text)
    if rest or not text:
        raise OSError(errno.EINVAL, f"{text!r} is not a number")
    return value
