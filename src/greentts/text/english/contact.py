"""URLs, e-mail addresses, telephone numbers and extensions."""

from __future__ import annotations

import re

from .words import digits_en, words

# rules, in the order they run
# --------------------------------------------------------------------------------------------------

_TLDS = ("com|org|net|edu|gov|io|ai|dev|app|co|uk|us|de|fr|cn|jp|info|biz|me|tv|ly|gg|so|xyz|tech|cloud|"
         "online|site|store|shop|blog|news|int|mil|eu|ca|au|in|nl|se|ch|es|it|ru|br|mx|nz|ie|be|at")
EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
URL_RE = re.compile(r"(?<![\w@./])(?:(https?|ftp)://)?((?:[A-Za-z0-9-]+\.)+(?:" + _TLDS + r"))\b"
                     r"((?:/[\w\-.~%]*)*(?:\?[\w\-.=&%]*)?)(?![\w@])")
_URL_SYMBOLS = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ", "@": " at ", "?": " question mark ",
                "=": " equals ", "&": " and ", "+": " plus ", "~": " tilde ", ":": " colon ", "%": " percent "}


def _spell_address(s: str) -> str:
    out = []
    for tok in re.findall(r"[A-Za-z]+|\d+|.", s):
        if tok.isdigit():
            out.append(digits_en(tok) if len(tok) > 2 else words(tok))
        elif tok.isalpha():
            out.append(" ".join(tok) if tok.isupper() and len(tok) <= 4 and tok.lower() not in ("www",) else tok)
        else:
            out.append(_URL_SYMBOLS.get(tok, " "))
    text = " ".join("".join(out).split())
    return re.sub(r"\bwww\b", "w w w", text)


def email(m: re.Match[str]) -> str:
    return f"{_spell_address(m[1])} at {_spell_address(_spell_tld(m[2]))}"


def _spell_tld(host: str) -> str:
    """Country-code top-level domains are spelled (co dot U K); co, me, io-like words are not."""
    head, _, tld = host.rpartition(".")
    if len(tld) == 2 and tld.lower() not in ("co", "me", "so", "go", "to", "tv", "io", "ai", "us"):
        return f"{head}.{tld.upper()}"
    if tld.lower() in ("tv", "io", "ai", "us"):
        return f"{head}.{tld.upper()}"
    return host


def url(m: re.Match[str]) -> str:
    scheme, host, path = m[1], m[2], m[3] or ""
    if not scheme and not path and host.count(".") == 1 and host.split(".")[0].lower() in _NOT_HOSTS:
        return m[0]
    path = path.rstrip("/") if path not in ("/",) else ""
    return _spell_address(_spell_tld(host) + path)


_NOT_HOSTS = {"e", "i", "a", "p", "etc"}

# telephone numbers: groups of digits joined by spaces, dots or dashes, or an area code in parentheses
PHONE_RE = re.compile(
    r"(?<![\w.+-])(?P<plus>\+)?(?P<cc>\d{1,3}[\s.-])?(?:\((?P<area1>\d{2,4})\)\s?|(?P<area2>\d{3})[\s.-])"
    r"(?P<a>\d{3})[\s.-](?P<b>\d{4})(?![\w-])"
    r"|(?<![\w.+-])\+(?P<icc>\d{1,3})(?P<igroups>(?:[\s.-]\d{1,8}){1,5})(?![\w-])"
    r"|(?<![\w.+-])(?P<nat>0\d{1,4}(?:[\s-]\d{2,8}){1,3})(?![\w-])"
    r"|(?<![\w.+/-])(?P<l1>\d{3})-(?P<l2>\d{4})(?![\w-])"
)
EMERGENCY_RE = re.compile(r"(?<=\b(?:call|dial|Call|Dial|ring|Ring)\s)(911|999|112|000|411|311)\b")


def _phone_group(g: str, first: bool) -> str:
    if first and len(g) == 3 and g[1:] == "00" and g[0] in "89":
        return words(g)  # toll-free: eight hundred, nine hundred
    return digits_en(g, oh=True)


def phone(m: re.Match[str]) -> str:
    if m["l1"]:
        return f"{digits_en(m['l1'], oh=True)}, {digits_en(m['l2'], oh=True)}"
    if m["nat"]:
        return ", ".join(digits_en(g, oh=True) for g in re.findall(r"\d+", m["nat"]))
    if m["icc"]:
        groups = re.findall(r"\d+", m["igroups"])
        return ", ".join([f"plus {digits_en(m['icc'], oh=True)}"] + [digits_en(g, oh=True) for g in groups])
    parts = []
    if m["cc"]:
        cc = m["cc"].strip(" .-")
        parts.append(("plus " if m["plus"] else "") + digits_en(cc, oh=True))
    area = m["area1"] or m["area2"]
    parts.append(_phone_group(area, first=True))
    parts += [digits_en(m["a"], oh=True), digits_en(m["b"], oh=True)]
    return ", ".join(parts)


_AFTER_PHONE_EXT_RE = re.compile(r"\b(?P<prev>oh|one|two|three|four|five|six|seven|eight|nine|zero|hundred)"
                                 r"(?:,\s*|\s+)(?:ext\.?|x|extension)\s?(?P<n>\d{1,6})\b", re.IGNORECASE)


_EXT_WORD_RE = re.compile(r"\b(?P<w>extension|Extension|ext\.|Ext\.)\s?(?P<n>\d{1,6})\b")
_SHORT_CODE_RE = re.compile(r"\b(?P<head>(?:[Tt]ext|SMS|sms)\b[^.!?\d]{0,40}?\bto )(?P<n>\d{4,6})\b")


def extension_rule(t: str) -> str:
    # only right after a telephone number has been spelled ("... oh one nine nine, ext. 204")
    t = _AFTER_PHONE_EXT_RE.sub(lambda m: f"{m['prev']}, extension {digits_en(m['n'], oh=True)}", t)
    t = _EXT_WORD_RE.sub(lambda m: f"extension {digits_en(m['n'], oh=True)}", t)
    return _SHORT_CODE_RE.sub(lambda m: m["head"] + digits_en(m["n"]), t)


# dates
