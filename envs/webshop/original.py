"""The original WebShop data files, streamed: ``items_shuffle*.json`` (1.18M products, a
JSON list), ``items_ins_v2*.json`` (attributes per ASIN, a JSON object) and
``items_human_ins.json`` (human instructions per ASIN).

`iter_json` reads a file whose top level is a list or an object one element at a time (the C
JSON scanner on a sliding window), so a 5 GB list never sits in memory whole; only the fields
the pages, search and reward read are kept (the original also drops the images, reviews and
seller fields after loading everything). Errors name the file, line and column.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import random
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from sys import intern

from prism_jax.envs.webshop.catalog import Goal, Product
from prism_jax.envs.webshop.generate import price_upper
from prism_jax.envs.webshop.reward import approximate_nouns
from prism_jax.progress import progress

_READ = 1 << 20
_MAX_ELEMENT = 256 << 20
_SPACE = re.compile(r"[ \t\n\r]*")


class _Window:
    """Decoded text of a file, read forward in chunks; remembers lines already dropped."""

    def __init__(self, path: Path, bar):
        self.path, self.bar = path, bar
        self.file = open(path, "rb")
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        # line0 / col0: line of the window's start and the characters of it dropped before.
        self.text, self.pos, self.eof, self.line0, self.col0 = "", 0, False, 1, 0

    def more(self) -> bool:
        if self.eof:
            return False
        raw = self.file.read(max(_READ, len(self.text) - self.pos))
        if self.bar is not None:
            self.bar.update(len(raw))
        self.eof = not raw
        dropped = self.text[:self.pos]
        newline = dropped.rfind("\n")
        self.line0 += dropped.count("\n")
        self.col0 = len(dropped) - newline - 1 if newline >= 0 else self.col0 + len(dropped)
        self.text = self.text[self.pos:] + self.decoder.decode(raw, final=self.eof)
        self.pos = 0
        return True

    def skip_space(self) -> str:
        """The next non-space character ('' at the end of the file), not consumed."""
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos:self.pos + 1]

    def where(self, pos: int) -> str:
        newline = self.text.rfind("\n", 0, pos)
        col = pos - newline if newline >= 0 else self.col0 + pos + 1
        return f"{self.path}:{self.line0 + self.text.count(chr(10), 0, pos)}:{col}"

    def value(self, decoder: json.JSONDecoder):
        """Decode the JSON value at the cursor, reading on while it is incomplete."""
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as e:
                if len(self.text) - self.pos > _MAX_ELEMENT or not self.more():
                    raise ValueError(f"{self.where(e.pos)}: invalid JSON: {e.msg}") from None
                continue
            if end == len(self.text) and not self.eof and isinstance(value, (int, float)):
                if self.more():
                    continue
            self.pos = end
            return value

    def expect(self, chars: str) -> str:
        c = self.skip_space()
        if not c or c not in chars:
            found = repr(c) if c else "the end of the file"
            raise ValueError(f"{self.where(self.pos)}: invalid JSON: expected "
                             f"{' or '.join(map(repr, chars))}, found {found}")
        self.pos += 1
        return c


def iter_json(path: str | Path, kind: str, bar=None) -> Iterator:
    """The elements of a JSON file whose top level is a list (``kind="list"``: yields values)
    or an object (``kind="object"``: yields ``(key, value)``), one at a time."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WebShop data file not found: {path}")
    open_, close = ("[", "]") if kind == "list" else ("{", "}")
    decoder = json.JSONDecoder()
    w = _Window(path, bar)
    try:
        w.expect(open_)
        if w.skip_space() == close:
            w.pos += 1
            return
        while True:
            w.skip_space()
            if kind == "list":
                yield w.value(decoder)
            else:
                key = w.value(decoder)
                w.expect(":")
                w.skip_space()
                yield key, w.value(decoder)
            if w.expect("," + close) == close:
                break
        if w.skip_space():
            raise ValueError(f"{w.where(w.pos)}: invalid JSON: extra data after the top level")
    finally:
        w.file.close()


def _bar(path: Path, desc: str, enabled: bool):
    return progress(os.path.getsize(path) if path.is_file() else None, desc=desc, unit="B",
                    enabled=enabled)


def _product(rng: random.Random, p: dict):
    pricing_text = p.get("pricing")
    if not pricing_text:
        pricing = (100.0,)
    else:
        values = [float(Decimal(re.sub(r"[^\d.]", "", s))) for s in pricing_text.split("$")[1:]]
        pricing = tuple(values[:2])
    price = pricing[0] if len(pricing) == 1 else rng.uniform(*pricing)
    options = {}
    for name, contents in (p.get("customization_options") or {}).items():
        if contents is None:
            continue
        options[intern(name.lower())] = tuple(
            intern(c["value"].strip().replace("/", " | ").lower()) for c in contents)
    bullets = p["small_description"]
    bullets = tuple(bullets) if isinstance(bullets, list) else (bullets,)
    # Categories, queries, option values and title words repeat across a million products:
    # keep one copy of each.
    shared = [intern(s) for s in (p["category"], p["query"].lower().strip(),
                                  p["product_category"])]
    return Product(asin=p["asin"], title=p["name"], category=shared[0], query=shared[1],
                   product_category=shared[2], description=p["full_description"] or "",
                   bullet_points=bullets, attributes=("DUMMY_ATTR",), options=options,
                   pricing=pricing, price=price,
                   nouns=tuple(map(intern, approximate_nouns(p["name"]))))


def load_products(product_json: str | Path, attributes_json: str | Path | None,
                  rng: random.Random, *, num_products: int | None = None,
                  progress: bool = False) -> list:
    """The products of ``items_shuffle*.json`` (the first ``num_products`` entries), with
    their attributes from ``items_ins_v2*.json`` when given."""
    product_json = Path(product_json)
    products, index = [], {}
    with _bar(product_json, "webshop products", progress) as bar:
        for i, p in enumerate(iter_json(product_json, "list", bar)):
            if num_products is not None and i >= num_products:
                break
            try:
                asin = p["asin"]
                if asin == "nan" or len(asin) > 10 or asin in index:
                    continue
                index[asin] = len(products)
                products.append(_product(rng, p))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise ValueError(f"{product_json}: product #{i}: missing or malformed "
                                 f"field {e!s}") from None
    if attributes_json is not None:
        attributes_json = Path(attributes_json)
        with _bar(attributes_json, "webshop attributes", progress) as bar:
            for asin, entry in iter_json(attributes_json, "object", bar):
                k = index.get(asin)
                if k is not None and isinstance(entry, dict) and "attributes" in entry:
                    products[k] = dataclasses.replace(products[k],
                                                      attributes=tuple(entry["attributes"]))
    return products


def load_goals(goals_json: str | Path, products: list, rng: random.Random) -> list:
    """The human goals of ``items_human_ins.json`` for ``products``, as the original's
    ``get_human_goals`` (goals without attributes skipped), shuffled with seed 233."""
    human = dict(iter_json(goals_json, "object"))
    goals = []
    for product in products:
        for ins in human.get(product.asin, []):
            if not ins.get("instruction_attributes"):
                continue
            upper, price_text = price_upper(rng, product.price)
            goals.append(Goal(
                asin=product.asin, category=product.category, query=product.query,
                name=product.title, product_category=product.product_category,
                instruction_text=ins["instruction"].strip(".") + price_text,
                attributes=tuple(ins["instruction_attributes"]),
                goal_options=tuple(ins.get("instruction_options", ())),
                price_upper=upper, name_nouns=product.nouns))
    random.Random(233).shuffle(goals)
    return goals
