"""Normalization tables (no weights needed)."""

import pytest

from greentts.text.normalize import clean, normalize_en, normalize_zh

EN = [
    ("$9.99", "nine dollars and ninety nine cents"),
    ("$1", "one dollar"),
    ("€20", "twenty euros"),
    ("£3.50", "three pounds and fifty pence"),
    ("$1.5 million", "one point five million dollars"),
    ("March 3rd, 2024", "March third, twenty twenty four"),
    ("2024-03-03", "March third, twenty twenty four"),
    ("7:30 pm", "seven thirty PM"),
    ("7:05", "seven oh five"),
    ("10am", "ten AM"),
    ("Dr. Smith", "Doctor Smith"),
    ("Mr. Lee vs. Mrs. Kim", "Mister Lee versus Missus Kim"),
    ("St. Louis", "Saint Louis"),
    ("95%", "ninety five percent"),
    ("3.14", "three point one four"),
    ("1,250", "one thousand two hundred and fifty"),
    ("the 21st century", "the twenty first century"),
    ("2nd", "second"),
    ("555-123-4567", "five five five, one two three, four five six seven"),
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    ("10 km", "ten kilometers"),
    ("1 km", "one kilometer"),
    ("5kg", "five kilograms"),
    ("72°F", "seventy two degrees Fahrenheit"),
    ("the 1990s", "the nineteen nineties"),
    ("-5", "minus five"),
    ("1/2", "one half"),
    ("3/4", "three quarters"),
    ("No. 5", "number five"),
]

ZH = [
    ("2026年11月21日", "二零二六年十一月二十一日"),
    ("2026-11-21", "二零二六年十一月二十一日"),
    ("3点半", "三点半"),
    ("2点钟", "两点钟"),
    ("15:30开会", "十五点三十分开会"),
    ("95%", "百分之九十五"),
    ("1200个", "一千二百个"),
    ("2个苹果", "两个苹果"),
    ("3.14", "三点一四"),
    ("¥100", "一百元"),
    ("12.5元", "十二点五元"),
    ("电话13812345678", "电话幺三八幺二三四五六七八"),
    ("-3.5℃", "负三点五摄氏度"),
    ("5kg", "五千克"),
    ("1/2的人", "二分之一的人"),
    ("第3名", "第三名"),
    ("在第2个路口", "在第二个路口"),  # ordinal: 二, not 两
    ("买2个苹果", "买两个苹果"),
    ("3-5天", "三到五天"),
]


@pytest.mark.parametrize(("raw", "spoken"), EN)
def test_english(raw, spoken):
    assert normalize_en(raw) == spoken


@pytest.mark.parametrize(("raw", "spoken"), ZH)
def test_mandarin(raw, spoken):
    assert normalize_zh(raw) == spoken


def test_sentence_final_period_survives_pm():
    assert normalize_en("at 7:30 pm.").endswith("PM.")


def test_clean_reports_emoji_and_control_characters():
    text, skipped = clean("Hi 😀 there\x07!")
    assert "😀" not in text and "\x07" not in text
    assert [(s.position, s.codepoint) for s in skipped] == [(3, "U+1F600"), (10, "U+0007")]
    assert {s.reason for s in skipped} == {"emoji or pictographic symbol", "control character"}


def test_clean_keeps_newlines_and_fullwidth_digits():
    text, skipped = clean("第１段\n２")
    assert text == "第1段\n2" and not skipped
