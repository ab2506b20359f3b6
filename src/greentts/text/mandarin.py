"""Mandarin text normalization: digits and symbols in Mandarin text -> the characters a newsreader says.

:func:`normalize_zh` is an ordered list of rules, one per class (special dates, dates, generations and
decades, telephone and service numbers, codes and IDs, times, scores, math, currency, percentages,
fractions, ranges, units, cardinals), earlier rules taking the tokens later, more general ones would
misread ("3:1" after 比分 is a score, not a time). Cardinals are read as cn2an reads them, with 两 for a
leading 2 before a measure word or 千/万/亿. Conventions: ``docs/normalization.md``; the cases are data
(``tests/data/normalize_zh.tsv``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import cn2an

from .english import MAX_SPOKEN_DIGITS

__all__ = ["normalize_zh"]

_DIGITS = "零一二三四五六七八九"
_PHONE_DIGITS = "零幺二三四五六七八九"
# Measure words before which 2 is read 两 (两个, 两张); 2楼, 2号, 2班, 2月 are names: 二.
CLASSIFIERS = set("个只张本条件位次名头辆台部把块双对份瓶杯碗篇首页层岁天周年小点种样家间所门斤倍成届"
                  "米克吨升秒分项场顿口棵架艘枚封颗粒片滴句段节趟遍些亩户").union(
    {"公里", "千克", "公斤", "小时", "分钟", "毫米", "厘米", "千米", "平方米", "立方米", "毫升"})
_NOT_LIANG_AFTER = ("年级", "分之", "点五", "月")


def digits(s: str, phone: bool = False) -> str:
    table = _PHONE_DIGITS if phone else _DIGITS
    return "".join(table[int(c)] for c in s if "0" <= c <= "9")


def cardinal(s: str, liang: bool = False) -> str:
    """A number as cn2an reads it ("1200" -> 一千二百, "-3.5" -> 负三点五); long ones digit by digit.
    ``liang``: a leading 2 is 两 (两个, 两千, 两万)."""
    s = s.replace(",", "")
    neg = s.startswith("-")
    s = s.lstrip("-")
    whole, _, frac = s.partition(".")
    words = cn2an.an2cn(whole or "0") if len(whole) <= MAX_SPOKEN_DIGITS else digits(whole)
    if liang and not frac and (words == "二" or words[:2] in ("二千", "二万", "二亿")):
        words = "两" + words[1:]
    if frac:
        words += "点" + digits(frac)
    return ("负" if neg else "") + words


def _liang_before(text: str, end: int) -> bool:
    after = text[end:end + 3]
    if any(after.startswith(x) for x in _NOT_LIANG_AFTER):
        return False
    return after[:1] in CLASSIFIERS or after[:2] in CLASSIFIERS or after[:3] in CLASSIFIERS


def _count(num: str, text: str, end: int, start: int = -1) -> str:
    """A cardinal in context: 两 before a measure word (but 第二), and before 千/万/亿 at its head."""
    ordinal = start > 0 and text[start - 1] == "第"
    liang = not ordinal and "." not in num and not num.startswith("-")
    head_liang = liang and (num.replace(",", "")[:1] == "2" and len(num.replace(",", "")) >= 4)
    if liang and num == "2" and _liang_before(text, end):
        return "两"
    if head_liang:
        return cardinal(num, liang=True)
    if liang and num == "2" and text[end:end + 1] in "万亿千" and text[end:end + 1]:
        return "两"
    return cardinal(num)


# --------------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------------

Rule = Callable[[str], str]


def _sub(pattern: str, fn: Callable[[re.Match[str], str], str] | str) -> Rule:
    rx = re.compile(pattern)
    if isinstance(fn, str):
        return lambda t: rx.sub(fn, t)
    return lambda t: rx.sub(lambda m: fn(m, t), t)


def _pre(t: str) -> str:
    t = t.replace("−", "-").replace("－", "-").replace("～", "~").replace("：", ":")
    return re.sub(r"(?<=\d)\s?[–—]\s?(?=\d)", "-", t)


def _date(m: re.Match[str], _: str) -> str:
    out = f"{digits(m['y'])}年" if m["y"] else ""
    if m["m"]:
        out += f"{cn2an.an2cn(str(int(m['m'])))}月"
    if m["d"]:
        out += f"{cn2an.an2cn(str(int(m['d'])))}" + (m["suffix"] if m["suffix"] else "日")
    return out


_ISO = r"(?<!\d)(?P<y>\d{4})[-/.](?P<m>0?[1-9]|1[0-2])[-/.](?P<d>0?[1-9]|[12]\d|3[01])(?P<suffix>)(?!\d)"
_YMD = r"(?<![\d.])(?P<y>\d{2,4})年(?:(?P<m>\d{1,2})月(?:(?P<d>\d{1,2})(?P<suffix>[日号]))?)?"
_MD = r"(?<![\d.])(?P<y>)(?P<m>\d{1,2})月(?P<d>\d{1,2})(?P<suffix>[日号])"
_MONTH = r"(?<![\d.])(?P<y>)(?P<m>\d{1,2})月(?P<d>)(?P<suffix>)(?!\d)"
_DAY_RANGE = r"(?<=[日号])-(?=\d{1,2}[日号])"


def _phone(m: re.Match[str], _: str) -> str:
    text = m[0]
    out = "加" + digits(text[1:3] if text.startswith("+") else text[:2], phone=True) if text.lstrip("+").startswith("86") \
        and (text.startswith("+") or len(re.sub(r"\D", "", text)) > 11) else ""
    body = re.sub(r"^\+?86[\s-]?", "", text) if out else text
    return out + digits(body, phone=True)


_MOBILE = r"(?<![\dA-Za-z+])(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"
_LANDLINE = r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3}-)\s?\d{3,4}[\s-]?\d{4}(?!\d)"
_HOTLINE = r"(?<!\d)400-?\d{3}-?\d{4}(?!\d)"
_SERVICE = (r"(?<=拨打|请拨|请打|致电|热线|电话|客服|急救|报警|火警|匪警|服务|查询|拨通|打了|拨了|号码|号是|话是)"
            r"[:\s]?(?P<n>\d{3,6})(?!\d)|(?<=拨)(?P<n2>\d{3,6})(?!\d)")
_EXTENSION = r"(?<=[零幺一二三四五六七八九])转(?P<n>\d{1,6})(?!\d)"

# codes and IDs: after letters, after words that name a code, or before 室/房间
_CODE_WORDS = ("尾号|编号|账号|卡号|单号|订单号|工号|学号|邮编|验证码|密码|型号|代码|车次|航班|波音|空客|房号|身份证号|"
               "证件号|批次|序列号|车牌号|车牌|分机号|分机|门牌号|快递单号|取件码|桌号|座位号|货号|准考证号|会员号|"
               "工单号|保单号|运单号|流水号|密码是|口令")
_CODE_AFTER_WORD = r"(?P<w>" + _CODE_WORDS + r")(?P<a>[:\s]?(?:是|为|：)?[:\s]?)(?P<n>\d[\d\s]{1,30}\d|\d)(?!\d)"


def _code_after_word(m: re.Match[str], _: str) -> str:
    return m["w"] + m["a"] + digits(m["n"])


_CODE_AFTER_LETTERS = r"(?<=[A-Za-z])(?P<n>\d{3,})(?![\d.])|(?<=[A-Z])(?P<one>\d{1,2})(?![\d.])(?=次|号|型|系列|纸)?"
_ROOM = r"(?<!\d)(?P<n>\d{3,5})(?=室|房间|号房|房)"
_GENERATION = r"(?<!\d)(?P<n>[0-9]0)后"
_DECADE = r"(?<!\d)(?P<n>[1-9]0)年代"
_SPECIAL_DAY = r"(?<![\d.])(?P<m>[1-9]|1[0-2])[.·](?P<d>[1-9]|[12]\d|3[01])(?![\d级])(?=[\u4e00-\u9fff]{0,4}(?:晚会|地震|事件|纪念|消费者|惨案|运动|大促|购物节))"
_DOUBLE = r"双(?P<n>\d{1,2})(?!\d)"


def _code_after_letters(m: re.Match[str], _: str) -> str:
    if m["n"]:
        return digits(m["n"])
    return cardinal(m["one"])


# times, scores
_SCORE_WORDS = "比分|比|局|战|胜|负|平|落败|晋级|获胜|险胜|淘汰|主队|客队|主场|客场|大比分|总比分|点球|握手言和|互交白卷|以"


def _is_score(text: str, start: int, end: int) -> bool:
    around = text[max(0, start - 4):start] + "|" + text[end:end + 4]
    return bool(re.search(_SCORE_WORDS, around))


def _time(h: int, mi: int, s: str | None, in_range: bool = False) -> str:
    out = ("两" if h == 2 else cn2an.an2cn(str(h))) + "点"
    if mi == 30 and not s:
        out += "三十分"
    elif mi:
        out += ("零" if mi < 10 else "") + cn2an.an2cn(str(mi)) + "分"
    elif not in_range:
        out += "整"
    if s:
        out += cn2an.an2cn(str(int(s))) + "秒"
    return out


def _colon(m: re.Match[str], text: str) -> str:
    a, b = m["a"], m["b"]
    if m["s"] is None and (len(b) == 1 or int(a) > 24 or _is_score(text, m.start(), m.end())):
        return f"{cardinal(a)}比{cardinal(b)}"
    if len(b) != 2 or int(b) > 59 or int(a) > 24:
        return m[0]
    in_range = text[m.end():m.end() + 1] in ("-", "至", "到", "~") or text[m.start() - 1:m.start()] in ("-", "至", "到", "~")
    return _time(int(a), int(b), m["s"], in_range)


_COLON = r"(?<![\d:])(?P<a>\d{1,3}):(?P<b>\d{1,3})(?::(?P<s>[0-5]\d))?(?![\d:])"


def _hyphen_score(m: re.Match[str], text: str) -> str:
    if _is_score(text, m.start(), m.end()):
        return f"{cardinal(m['a'])}比{cardinal(m['b'])}"
    return m[0]


# math
_MATH_OPS = [("≠", "不等于"), ("≈", "约等于"), ("±", "正负"), ("≤", "小于等于"), ("<=", "小于等于"), ("≥", "大于等于"),
             (">=", "大于等于"), ("×", "乘"), ("÷", "除以"), ("√", "根号")]


def _math(t: str) -> str:
    t = re.sub(r"(?<=[\w)])²", "的平方", t)
    t = re.sub(r"(?<=[\w)])³", "的立方", t)
    t = re.sub(r"(?<=[\w)])\^(?P<n>-?\d+)", lambda m: f"的{cardinal(m['n'])}次方", t)
    for sym, word in _MATH_OPS:
        t = t.replace(sym, word)
    if "=" in t:  # an equation: + - * between terms are operators, not ranges
        t = re.sub(r"(?<=[\w)])\s?\*\s?(?=[\w(])", "乘", t)
        t = re.sub(r"(?<=[\w)])\s?\+\s?(?=[\w(])", "加", t)
        t = re.sub(r"(?<=[\w)])\s?-\s?(?=[\w(])", "减", t)
        t = re.sub(r"\s?=\s?-", "等于负", t)
        t = t.replace("=", "等于")
    t = re.sub(r"(?<=[\w)])\s?>\s?(?=[\w(-])", "大于", t)
    t = re.sub(r"(?<=[\w)])\s?<\s?(?=[\w(-])", "小于", t)
    return t


# currency
_CURRENCY = {"HK$": "港元", "US$": "美元", "NT$": "新台币", "¥": "元", "￥": "元", "$": "美元", "€": "欧元",
             "£": "英镑", "₩": "韩元", "₹": "卢比", "₽": "卢布"}
_CURRENCY_RE = (r"(?P<neg>-)?(?P<sym>HK\$|US\$|NT\$|[¥￥$€£₩₹₽])\s?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)"
                r"(?P<scale>[万亿千])?(?:元)?")


def _money(num: str, text: str, end: int) -> str:
    num = num.replace(",", "")
    if "." in num:
        num = num.rstrip("0").rstrip(".")
    if num == "2":
        return "两"
    if "." not in num and len(num) >= 4 and num[0] == "2":
        return cardinal(num, liang=True)
    return cardinal(num)


def _currency(m: re.Match[str], text: str) -> str:
    scale = m["scale"] or ""
    amount = _money(m["num"], text, m.end())
    return ("负" if m["neg"] else "") + amount + scale + _CURRENCY[m["sym"]]


# percentages, fractions, ranges
_PERCENT_RANGE = r"(?P<neg>-)?(?P<a>\d+(?:\.\d+)?)%?\s?[-~至到]\s?(?P<b>\d+(?:\.\d+)?)\s?%"
_PERCENT = r"(?P<neg>-)?(?P<num>\d+(?:\.\d+)?)\s?%"
_PERMILLE = r"(?P<neg>-)?(?P<num>\d+(?:\.\d+)?)‰"


def _percent_words(num: str) -> str:
    return "百分之百" if num in ("100", "100.0") else "百分之" + cardinal(num)


def _fraction(m: re.Match[str], _: str) -> str:
    a, b = m["a"], m["b"]
    neg = "负" if m["neg"] else ""
    whole = f"{cardinal(m['w'])}又" if m["w"] else ""
    if b == "100":
        return f"{neg}{whole}百分之{cardinal(a)}"
    return f"{neg}{whole}{cardinal(b)}分之{cardinal(a)}"


_FRACTION = r"(?<![\d/])(?P<neg>-)?(?:(?P<w>\d+)\s)?(?P<a>\d+)/(?P<b>\d+)(?![\d/])"
_YEAR_RANGE = r"(?<!\d)(?P<a>\d{4})\s?[-~至]\s?(?P<b>\d{4})(?=年)"
_RANGE = r"(?<![\d.])(?P<neg>-)?(?P<a>\d+(?:\.\d+)?)\s?[-~至]\s?(?P<b>\d+(?:\.\d+)?)(?![\d.:])(?P<unit>℃|°C|°F|℉|°)?"


def _range(m: re.Match[str], text: str) -> str:
    after = text[m.end():m.end() + 1]
    if not m["unit"] and (not after or after in "，。,.；;！!？?）) =") or "=" in text:
        return m[0]  # "10-4" with nothing after, or in an equation: not a range of anything
    if m["unit"]:
        low = f"零下{cardinal(m['a'])}" if m["neg"] and "." not in m["a"] else cardinal(("-" if m["neg"] else "") + m["a"])
        return f"{low}到{cardinal(m['b'])}{UNITS[m['unit']]}"
    a = cardinal(("-" if m["neg"] else "") + m["a"])
    b = _count(m["b"], text, m.end(), m.start("b"))
    if a == "二" and _liang_before(text, m.end()):
        a = "两"
    return f"{a}到{b}"


# units
UNITS = {
    "km/h": "公里每小时", "km²": "平方公里", "km2": "平方公里", "km^2": "平方公里", "m/s": "米每秒", "mg/L": "毫克每升",
    "km": "公里", "cm": "厘米", "mm": "毫米", "nm": "纳米", "μm": "微米", "µm": "微米", "m^2": "平方米", "m²": "平方米",
    "m^3": "立方米", "m³": "立方米", "cm^2": "平方厘米", "cm²": "平方厘米", "m": "米", "kg": "千克", "mg": "毫克", "g": "克", "t": "吨",
    "ml": "毫升", "mL": "毫升", "L": "升", "l": "升", "℃": "摄氏度", "°C": "摄氏度", "°F": "华氏度", "℉": "华氏度",
    "kWh": "千瓦时", "kW": "千瓦", "W": "瓦", "MW": "兆瓦", "mAh": "毫安时", "mA": "毫安", "V": "伏", "kV": "千伏",
    "dB": "分贝", "Hz": "赫兹", "kHz": "千赫兹", "MHz": "兆赫兹", "GHz": "吉赫兹", "°": "度", "s": "秒",
    "ms": "毫秒", "h": "小时", "min": "分钟", "kcal": "千卡", "Pa": "帕", "kPa": "千帕", "MPa": "兆帕",
}
_UNIT = (r"(?<![A-Za-z0-9.])(?P<num>-?\d+(?:\.\d+)?)\s?(?P<unit>"
         + "|".join(sorted((re.escape(u) for u in UNITS), key=len, reverse=True)) + r")(?![A-Za-z/^])")


def _unit(m: re.Match[str], _: str) -> str:
    num, unit = m["num"], m["unit"]
    if num.startswith("-") and unit in _TEMPERATURES and re.fullmatch(r"-\d{1,2}", num):
        return "零下" + cardinal(num[1:]) + UNITS[unit]  # weather: 零下五摄氏度
    words = "两" if num == "2" else cardinal(num)
    return words + UNITS[unit]


_TEMPERATURES = ("℃", "°C", "°F", "℉")


def _number(m: re.Match[str], text: str) -> str:
    num = m["num"]
    plain = num.replace(",", "")
    if len(plain) > MAX_SPOKEN_DIGITS or (plain.startswith("0") and len(plain) > 1 and "." not in plain):
        return ("负" if m["neg"] else "") + digits(plain)
    return _count(("-" if m["neg"] else "") + num, text, m.end(), m.start())


RULES: list[Rule] = [
    _pre,
    _sub(_SPECIAL_DAY, lambda m, _: digits(m["m"]) + digits(m["d"])),
    _sub(_DOUBLE, lambda m, _: "双" + cardinal(m["n"])),
    _sub(_GENERATION, lambda m, _: digits(m["n"]) + "后"),
    _sub(_DECADE, lambda m, _: cardinal(m["n"]) + "年代"),
    _sub(_YEAR_RANGE, lambda m, _: f"{digits(m['a'])}到{digits(m['b'])}"),
    _sub(_ISO, _date),
    _sub(_YMD, _date),
    _sub(_DAY_RANGE, "到"),
    _sub(_MD, _date),
    _sub(_MONTH, _date),
    _sub(_MOBILE, _phone),
    _sub(_LANDLINE, _phone),
    _sub(_HOTLINE, _phone),
    _sub(r"\+86[\s-]?", lambda m, _: "加八六"),
    _sub(_SERVICE, lambda m, _: m[0][:len(m[0]) - len(m["n"] or m["n2"])] + digits(m["n"] or m["n2"], phone=True)),
    _sub(_EXTENSION, lambda m, _: "转" + digits(m["n"], phone=True)),
    _sub(_CODE_AFTER_WORD, _code_after_word),
    _sub(_ROOM, lambda m, _: digits(m["n"])),
    _sub(_CODE_AFTER_LETTERS, _code_after_letters),
    _sub(_COLON, _colon),
    _sub(r"(?<=[点分秒整])-(?=[零一二三四五六七八九十两])", "到"),
    _sub(r"(?<![\d.])(?P<a>\d{1,3})-(?P<b>\d{1,3})(?![\d.])", _hyphen_score),
    _sub(_CURRENCY_RE, _currency),
    _sub(_PERCENT_RANGE, lambda m, _: ("负" if m["neg"] else "") + _percent_words(m["a"]) + "到" + _percent_words(m["b"])),
    _sub(_PERCENT, lambda m, _: ("负" if m["neg"] else "") + _percent_words(m["num"])),
    _sub(_PERMILLE, lambda m, _: ("负" if m["neg"] else "") + "千分之" + cardinal(m["num"])),
    _sub(_FRACTION, _fraction),
    _sub(_RANGE, _range),
    _sub(_UNIT, _unit),
    _math,
    _sub(r"(?<=[元角])/(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])/(?=[斤克升米个件次人天时])", "每"),
    _sub(r"(?<=\d)′", "分"),
    _sub(r"(?<=\d)″", "秒"),
    _sub(r"(?<=\d)#(?=楼|栋|门)", "号"),
    _sub(r"(?P<neg>-)?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)", lambda m, t: _number(m, t)),
]


_LATIN_UNIT = re.compile(r"(?<![A-Za-z0-9.])(?P<num>-?\d+(?:\.\d+)?)\s?(?P<unit>"
                         + "|".join(sorted((re.escape(u) for u in UNITS if re.search("[A-Za-z²³]", u)),
                                           key=len, reverse=True)) + r")(?![A-Za-z/^])")


def units_in_han_text(text: str) -> str:
    """Numbers with Latin unit symbols in Mandarin text ("跑步5km", "89m²") in characters, so that the
    unit is not split off as an English word when the text is cut by script."""
    return _LATIN_UNIT.sub(lambda m: _unit(m, text), text)


def normalize_zh(text: str) -> str:
    """Spell out numbers, dates, times, scores, percentages, currency, phone numbers, codes and units
    (Mandarin)."""
    for rule in RULES:
        text = rule(text)
    return text
