"""Products, goals and BM25 search: the embedded WebShop catalog, or the original's files.

`Catalog.generate(num_products, seed)` writes listings in the style of the original's crawled
Amazon data and instructions in the style of its human goals (`generate.py` says how);
everything is drawn from ``random.Random(seed)``, so one seed gives one catalog.
`Catalog.from_original` streams the original's product / attribute / human-instruction JSON
files with the original's cleaning (`original.py`).

Goals are indexed like the original's shuffled goal list: test 0-499, eval 500-1499, train
1500 and up. Search ranks products with BM25 (`search.py`: Lucene's analysis and BM25 as the
original's pyserini index) over the fields the original indexed: title, description, first
bullet point and the options text, lower-cased.
"""

from __future__ import annotations

import random
import string
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

from prism_jax.envs.webshop import generate, vocab
from prism_jax.envs.webshop.reward import approximate_nouns
from prism_jax.envs.webshop.search import SearchIndex
from prism_jax.progress import progress as bar

SEARCH_RETURN_N = 50
PRODUCT_WINDOW = 10
SPLITS = {"test": (0, 500), "eval": (500, generate.HELD_OUT_GOALS),
          "train": (generate.HELD_OUT_GOALS, None)}
DEFAULT_NUM_GOALS = 6000
NO_PRICE_LIMIT = generate.NO_PRICE_LIMIT
_SEARCH_CACHE = 4096


@dataclass(frozen=True, slots=True)
class Product:
    """One listing. ``price`` is the price charged at purchase (drawn uniformly inside a price
    range, as the original's ``generate_product_prices``); ``nouns`` are the title's nouns."""

    asin: str
    title: str
    category: str
    query: str
    product_category: str
    description: str
    bullet_points: tuple[str, ...]
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    pricing: tuple[float, ...]
    price: float
    nouns: tuple[str, ...]
    rating: str = "N.A."

    @property
    def price_tag(self) -> str:
        """The price as the pages show it: ``$12.5`` or ``$10.0 to $25.99``."""
        if len(self.pricing) == 1:
            return f"${self.pricing[0]}"
        return f"${self.pricing[0]} to ${self.pricing[1]}"

    def search_text(self) -> str:
        """The text the search index holds for this product (the original's ``contents``)."""
        options = ", and ".join(f"{name}: {', '.join(values)}"
                                for name, values in self.options.items())
        first_bullet = self.bullet_points[0] if self.bullet_points else ""
        return " ".join([self.title, self.description, first_bullet, options]).lower()


@dataclass(frozen=True, slots=True)
class Goal:
    """One shopping instruction with the fields the reward reads (``name`` is the target's
    title, ``name_nouns`` its nouns; ``goal_options`` are option values)."""

    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    goal_options: tuple[str, ...]
    price_upper: float
    name_nouns: tuple[str, ...]


@dataclass(frozen=True)
class TypeWords:
    """What a shopper knows from the words of an instruction: the product type's name and the
    ways each attribute can be written (canonical string -> forms)."""

    name: str
    forms: dict[str, tuple[str, ...]]


@cache
def _phrasebook() -> dict[str, TypeWords]:
    out = {}
    for types in vocab.CATEGORIES.values():
        for t in types:
            words = TypeWords(t.name.lower(), {a.canonical: a.forms for a in t.attributes})
            out.update((q, words) for q in t.queries)
    return out


@dataclass
class Catalog:
    """Products, goals and a lazily built BM25 index over the products."""

    products: list[Product]
    goals: list[Goal]
    synthetic: bool = False
    _by_asin: dict[str, Product] = field(init=False, repr=False, compare=False)
    _index: object = field(default=None, init=False, repr=False, compare=False)
    _cache: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False,
                                compare=False)

    def __post_init__(self) -> None:
        self._by_asin = {p.asin: p for p in self.products}

    def product(self, asin: str) -> Product:
        """The product with this ASIN (upper case)."""
        return self._by_asin[asin]

    def goal(self, task_id: str | int) -> Goal:
        """The goal of a task id (the goal index, as a string or int)."""
        try:
            index = int(task_id)
        except (TypeError, ValueError):
            raise ValueError(f"WebShop task id must be a goal index, got {task_id!r}") from None
        if not 0 <= index < len(self.goals):
            raise ValueError(f"WebShop task id {index} out of range: the catalog has "
                             f"{len(self.goals)} goals (0-{len(self.goals) - 1})")
        return self.goals[index]

    def type_words(self, goal: Goal) -> TypeWords:
        """The type name and attribute forms a shopper reads into ``goal``'s instruction:
        the generator's word lists for a generated catalog; for the original's data, the
        crawl query and each attribute as written."""
        words = _phrasebook().get(goal.query) if self.synthetic else None
        if words is None:
            return TypeWords(goal.query, {a: (a,) for a in goal.attributes})
        return words

    @cached_property
    def charset(self) -> frozenset[str]:
        """Every character the catalog's pages can show (for gymnasium's Text spaces).

        Generated catalogs and the page templates use printable ASCII and '›'; loaded data is
        scanned once for anything else.
        """
        chars = set(string.printable) | {"›"}
        if not self.synthetic:
            for p in self.products:
                chars.update(p.search_text(), p.title, p.description, *p.bullet_points)
            for g in self.goals:
                chars.update(g.instruction_text)
        return frozenset(chars)

    def list_tasks(self, split: str, n: int | None = None) -> list[str]:
        """Task ids of a split (``"train"``, ``"eval"``, ``"test"``), first ``n`` of them."""
        return list_tasks(split, n, num_goals=len(self.goals))

    # -- search -------------------------------------------------------------------------

    def build_index(self, progress: bool = False) -> None:
        """Build the BM25 index now (search builds it on first use), with a progress bar."""
        with bar(len(self.products), desc="webshop index", unit="product",
                 enabled=progress) as b:
            self._index = SearchIndex((p.search_text() for p in self.products), bar=b)

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """ASINs of the best ``k`` products for ``query``, best first (ties in catalog
        order); only products sharing at least one (non stop) word with the query."""
        key = (query.lower(), k)
        if key in self._cache:
            self._cache.move_to_end(key)
            return list(self._cache[key])
        if self._index is None:
            self.build_index()
        hits = [self.products[d].asin for d in self._index.search(query.lower(), k)]
        self._cache[key] = tuple(hits)
        if len(self._cache) > _SEARCH_CACHE:
            self._cache.popitem(last=False)
        return hits

    # -- construction -------------------------------------------------------------------

    @classmethod
    def generate(cls, num_products: int = 1000, seed: int = 0,
                 num_goals: int = DEFAULT_NUM_GOALS) -> "Catalog":
        """A synthetic catalog of ``num_products`` listings and ``num_goals`` instructions."""
        if num_products < 1:
            raise ValueError(f"num_products must be >= 1, got {num_products}")
        if num_goals < 1:
            raise ValueError(f"num_goals must be >= 1, got {num_goals}")
        rng = random.Random(seed)
        listings, clusters = generate.generate_listings(rng, num_products)
        products = [Product(
            asin=x.asin, title=x.title, category=x.category, query=x.query,
            product_category=" › ".join(x.ptype.path), description=x.description,
            bullet_points=x.bullets, attributes=x.attributes, options=x.options,
            pricing=x.pricing, price=x.price, nouns=approximate_nouns(x.title))
            for x in listings]
        goals = []
        for g in generate.generate_goals(rng, listings, clusters, num_goals):
            p = products[g.target]
            goals.append(Goal(asin=p.asin, category=p.category, query=p.query, name=p.title,
                              product_category=p.product_category,
                              instruction_text=g.instruction, attributes=g.attributes,
                              goal_options=g.options, price_upper=g.price_upper,
                              name_nouns=p.nouns))
        return cls(products, goals, synthetic=True)

    @classmethod
    def from_original(cls, product_json: str | Path, goals_json: str | Path, *,
                      attributes_json: str | Path | None = None,
                      num_products: int | None = None, seed: int = 0,
                      progress: bool = False) -> "Catalog":
        """Load the original WebShop data (``items_shuffle*.json``, ``items_human_ins.json``).

        ``attributes_json`` is ``items_ins_v2*.json`` (product attributes; without it every
        product has the original's placeholder ``DUMMY_ATTR``). The files are streamed, one
        product at a time, keeping only the fields the pages, search and reward use, and the
        index is built in chunks, so memory grows with the kept text, not the file size
        (README: measured figures). Cleaning, option values, price tags and the goal price
        limits follow the original's ``load_products`` and ``get_human_goals``; prices inside
        ranges and price limits are drawn from ``random.Random(seed)`` (the original drew
        them unseeded), and goals are shuffled with the original's ``random.seed(233)``, so
        goal indices line up with its splits.
        """
        # local: original.py builds this module's Goal and Product (an import cycle)
        from prism_jax.envs.webshop.original import load_goals, load_products

        rng = random.Random(seed)
        products = load_products(product_json, attributes_json, rng, num_products=num_products,
                                 progress=progress)
        catalog = cls(products, load_goals(goals_json, products, rng))
        if progress:
            catalog.build_index(progress=True)
        return catalog


def list_tasks(split: str, n: int | None = None, *, num_goals: int = DEFAULT_NUM_GOALS) -> list[str]:
    """Goal indices (as strings) of a split: test 0-499, eval 500-1499, train 1500+."""
    if split not in SPLITS:
        raise ValueError(f"unknown WebShop split {split!r}: expected one of {', '.join(SPLITS)}")
    start, stop = SPLITS[split]
    stop = num_goals if stop is None else min(stop, num_goals)
    ids = [str(i) for i in range(start, stop)]
    return ids if n is None else ids[:n]


def split_of(task_id: str | int) -> str:
    """The split a goal index belongs to."""
    index = int(task_id)
    for name, (start, stop) in SPLITS.items():
        if index >= start and (stop is None or index < stop):
            return name
    raise ValueError(f"negative WebShop task id {task_id!r}")


__all__ = ["Catalog", "Goal", "Product", "TypeWords", "list_tasks", "split_of",
           "SEARCH_RETURN_N", "PRODUCT_WINDOW"]
