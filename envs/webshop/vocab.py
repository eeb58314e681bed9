"""Word lists the embedded catalog is generated from: product families and types, attributes
with the other ways listings and shoppers write them, option values and their paraphrases.

A family (makeup, snacks, footwear, ...) holds what its product types share: a pool of
attributes, the option kinds, title endings and the purposes shoppers mention. A type adds its
title name, crawl queries, category path ('›'-joined levels in the original) and price range.

An `Attribute` has the canonical string the reward compares (`canonical`, which goes into the
product's hidden Attributes list and the goal) and `variants`, other ways of writing it: a
listing writes one of its forms in its title, bullet points or description, and an instruction
may use any form. Inside a family no form of one attribute contains a form of another, and no
two canonical strings score above the reward's fuzzy threshold against each other
(tests/test_webshop_vocab.py checks both), so a listing mentions an attribute exactly when it
has it.

An `OptionKind` is an option name, its value pool and the paraphrase style
(`option_phrases`): shoppers write "a two pack" or "size seven and a half" for the values
"pack of 2" and "7.5".

The lists themselves are data (`data/vocab.json`, read once at import): families by name, each
attribute written ``canonical | variant | variant``, category paths '›'-joined, and each
product type naming its family.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Attribute:
    """A product attribute: the reward's string and other ways of writing it."""

    canonical: str
    variants: tuple[str, ...]

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.canonical, *self.variants)


@dataclass(frozen=True)
class OptionKind:
    """One customisation option: name on the item page, value pool, paraphrase style."""

    name: str
    values: tuple[str, ...]
    style: str = "plain"


@dataclass(frozen=True)
class Family:
    """What the product types of one family share."""

    name: str
    attributes: tuple[Attribute, ...]
    options: tuple[OptionKind, ...]
    suffixes: tuple[str, ...]
    purposes: tuple[str, ...]


@dataclass(frozen=True)
class ProductType:
    """One kind of product: its title name, crawl queries, category path and price range."""

    name: str
    queries: tuple[str, ...]
    path: tuple[str, ...]
    family: Family
    price: tuple[float, float]
    extra: tuple[Attribute, ...] = ()
    option_override: tuple[OptionKind, ...] | None = None

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        return self.extra + self.family.attributes

    @property
    def options(self) -> tuple[OptionKind, ...]:
        return self.family.options if self.option_override is None else self.option_override


# -- option paraphrases -------------------------------------------------------------------

NUMBER_WORDS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
                "7": "seven", "8": "eight", "9": "nine", "10": "ten", "11": "eleven",
                "12": "twelve", "13": "thirteen", "15": "fifteen", "16": "sixteen",
                "20": "twenty", "24": "twenty four", "25": "twenty five", "40": "forty",
                "50": "fifty", "100": "one hundred"}
_APPAREL = {"x-small": ("xs", "extra small", "size xs"), "small": ("size s", "a small"),
            "medium": ("size m", "a medium"), "large": ("size l", "a large"),
            "x-large": ("xl", "extra large", "size xl"), "xx-large": ("xxl", "2xl", "size xxl"),
            "3x-large": ("3xl", "xxxl", "size 3xl")}
_COLOR_SYNONYMS = {"grey": ("gray",), "navy blue": ("navy",), "charcoal": ("dark gray",),
                   "burgundy": ("wine red", "maroon"), "khaki": ("tan colored",),
                   "ivory": ("off white", "cream"), "light blue": ("baby blue", "sky blue"),
                   "olive green": ("olive",), "mint green": ("mint",), "beige": ("sand",),
                   "dark brown": ("chocolate brown",), "matte black": ("flat black",),
                   "natural wood": ("natural",), "brushed nickel": ("nickel",)}


def _number(n: str) -> str:
    return NUMBER_WORDS.get(n, n)


def option_phrases(style: str, value: str) -> tuple[str, ...]:
    """The ways a shopper writes option ``value`` of this style; the value itself first
    (written as a shopper would say it: 'size 7.5', 'in black')."""
    head = value.split()[0]
    if style == "pack":
        n = value.rsplit(" ", 1)[1]
        if n == "1":
            return (value, "a single pack", "just one", "1 pack")
        return (value, f"{n} pack", f"{_number(n)} pack", f"a pack of {_number(n)}",
                f"{n}-pack")
    if style == "set":
        n = value.rsplit(" ", 1)[1]
        extra = ("a pair",) if n == "2" else ()
        return (value, f"set of {_number(n)}", f"{_number(n)} of them", *extra)
    if style == "apparel":
        return (f"size {value}", value, *_APPAREL[value])
    if style == "shoe":
        whole, _, half = value.partition(".")
        spoken = f"{_number(whole)} and a half" if half else _number(whole)
        return (f"size {value}", f"size {spoken}", f"a size {spoken}", f"{value} us")
    if style == "volume":
        return (value, f"{head} ounce", f"{head} oz", f"{head} fluid ounces")
    if style == "weight":
        unit = value.split()[1]
        short = "oz" if unit == "ounce" else "lb"
        out = [value, f"{head} {short}", f"{head}-{unit}"]
        if value == "16 ounce":
            out.append("1 pound")
        return tuple(out)
    if style == "count":
        return (value, f"{head} ct", f"box of {head}", f"{head} pieces")
    if style == "length":
        return (value, f"{head} ft", f"{head} foot", f"{_number(head)} foot")
    if style == "bed":
        extra = ("cal king",) if value == "california king" else ()
        return (value, f"{value} size", f"{value}-size", *extra)
    if style == "tier":
        return (value, f"{head}-tier", f"{_number(head)} tier", f"{head} shelf")
    if style == "storage":
        n = value[:-2]
        return (value, f"{n} gb", f"{n} gigabytes")
    if style == "dims":
        a, b = value.split("x")
        return (value, f"{a} x {b}", f"{a} by {b}")
    if style == "color":
        return (value, *_COLOR_SYNONYMS.get(value, ()))
    return (value,)


# -- the word lists -------------------------------------------------------------------------

def _attrs(lines: list[str]) -> tuple[Attribute, ...]:
    """One attribute per string: ``canonical | variant | variant``."""
    out = []
    for line in lines:
        forms = [f.strip() for f in line.split("|")]
        out.append(Attribute(forms[0], tuple(forms[1:])))
    return tuple(out)


def _options(kinds: list[dict]) -> tuple[OptionKind, ...]:
    return tuple(OptionKind(k["name"], tuple(k["values"]), k.get("style", "plain")) for k in kinds)


def _load() -> dict:
    return json.loads(resources.files(__package__).joinpath("data", "vocab.json")
                      .read_text(encoding="utf-8"))


_DATA = _load()
_FAMILIES = {name: Family(name, _attrs(f["attributes"]), _options(f["options"]),
                          tuple(f["suffixes"]), tuple(f["purposes"]))
             for name, f in _DATA["families"].items()}

CATEGORIES: dict[str, tuple[ProductType, ...]] = {
    category: tuple(ProductType(
        t["name"], tuple(t["queries"]), tuple(level.strip() for level in t["path"].split("›")),
        _FAMILIES[t["family"]], tuple(t["price"]), _attrs(t.get("extra", [])),
        _options(t["options"]) if "options" in t else None) for t in types)
    for category, types in _DATA["categories"].items()}

BRAND_ONSETS = tuple(_DATA["brand_onsets"])
BRAND_VOWELS = tuple(_DATA["brand_vowels"])
BRAND_CODAS = tuple(_DATA["brand_codas"])
OPENERS = tuple(_DATA["openers"])
# Sentences of a listing's bullet points and description that name no attribute.
BULLET_FILLERS = tuple(_DATA["bullet_fillers"])
BULLET_TEMPLATES = tuple(_DATA["bullet_templates"])
DESCRIPTION_TEMPLATES = tuple(_DATA["description_templates"])
DESCRIPTION_OPENERS = tuple(_DATA["description_openers"])
# Other nouns shoppers use for a type (instructions only; titles use the type's name).
ALIASES: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _DATA["aliases"].items()}
del _DATA


def _styles() -> dict[str, str]:
    out: dict[str, str] = {}
    families = {t.family for types in CATEGORIES.values() for t in types}
    kinds = [k for f in families for k in f.options]
    kinds += [k for types in CATEGORIES.values() for t in types for k in t.option_override or ()]
    for kind in kinds:
        for value in kind.values:
            out.setdefault(value, kind.style)
    return out


_STYLE_OF = _styles()


def value_phrases(value: str) -> tuple[str, ...]:
    """`option_phrases` of a value of any option kind (the value alone if no kind has it)."""
    return option_phrases(_STYLE_OF.get(value, "plain"), value)
