"""A scripted shopper that judges products by the pages it has seen in the episode.

The expert knows what the customer wants, as a human demonstrator reading the instruction
does: the product type, the attributes (and the usual ways of writing them, from
`Catalog.type_words`), the option values and the price limit. It knows nothing else about the
products: it reads each page from ``info["observation"]`` and keeps what it saw per listing
(title and price from the results, options from the item page, the Features and Description
sub-pages it opened), and its reasons quote only that text and the instruction.

Policy: search the type with the attributes and option values; on a results page open, in
search order, the first listing not yet ruled out whose title names the type and whose price
fits (a price range reaching over the limit counts two places lower); on its item page rule
it out (back to the results) when its price is over the limit or a wanted option value is
missing, open Description and then Features while an attribute is unconfirmed, and when both
are read and one is still missing, rule it out and search again for that attribute in all
its wordings (or go back to the results after the second search); otherwise select the
wanted options and buy. Listings with the title of one that lacked an attribute repeat its
text and are skipped. With no candidate left on a page it turns the page (up to three), then
searches again with the attributes' other wordings. When the 15-step budget runs short it
buys the candidate it is on instead of checking further.
"""

from __future__ import annotations

import re

from prism_jax.envs.webshop.catalog import NO_PRICE_LIMIT, PRODUCT_WINDOW, SEARCH_RETURN_N, \
    Catalog, Goal
from prism_jax.envs.webshop.vocab import value_phrases

_SEP = " [SEP] "
_NAV = {"back to search", "< prev", "next >"}
_ITEM_BUTTONS = {"back to search", "< prev", "description", "features", "reviews", "buy now"}
_PRICE = re.compile(r"\$([\d.]+)(?: to \$([\d.]+))?")
_TOTAL = re.compile(r"Page (\d+) \(Total results: (\d+)\)")
_MAX_PAGES = 3
_MAX_SEARCHES = 2
# attributes: the type, attributes and option values; instruction: the instruction verbatim
# (the paper's rule baseline's query)
QUERY_STYLES = ("attributes", "instruction")


def _q(text: str) -> str:
    """Text quoted in a reason: always text the expert has read."""
    return f'"{text}"'



def normalize(text: str) -> str:
    """Lower case, words and numbers separated by single spaces, padded with spaces (so that
    ``f" {form} " in normalize(text)`` is a whole-word match)."""
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text.lower())
    return " " + " ".join(re.sub(r"[^a-z0-9.]+", " ", text).split()) + " "


def expert_query(goal: Goal, type_name: str = "") -> str:
    """What the expert types first: the product query and type, the attributes and the
    wanted option values."""
    head = [goal.query] if not type_name or type_name in goal.query else [goal.query, type_name]
    return " ".join([*head, *goal.attributes, *goal.goal_options])


def _price_range(tag: str) -> tuple[float, float]:
    m = _PRICE.search(tag)
    if m is None:
        return 0.0, 0.0
    lo = float(m.group(1).rstrip("."))
    return lo, float(m.group(2).rstrip(".")) if m.group(2) else lo


class _Seen:
    """What the pages showed of one listing."""

    def __init__(self, asin: str, title: str, price: str):
        self.asin, self.title, self.price = asin, title, price
        self.options: dict[str, list[str]] | None = None
        self.texts: dict[str, list[str]] = {"title": [title]}

    def evidence(self, forms: tuple[str, ...]) -> tuple[str, str, str] | None:
        """(field, sentence, form) where a form of an attribute is written, if any."""
        for where, texts in self.texts.items():
            for text in texts:
                n = normalize(text)
                for f in forms:
                    if f" {normalize(f).strip()} " in n:
                        return where, text, f
        return None


class Expert:
    """Acts on one episode of a `WebShopEnv` for ``goal``: ``act_with_reason(info) ->
    (action, reason)`` once per step, with the env's latest ``info`` (which carries the page's
    ``observation``)."""

    def __init__(self, catalog: Catalog, goal: Goal, max_steps: int = 15,
                 query: str = "attributes"):
        if query not in QUERY_STYLES:
            raise ValueError(f"expert query must be one of {QUERY_STYLES}, got {query!r}")
        self.goal, self.max_steps, self.query = goal, max_steps, query
        words = catalog.type_words(goal)
        self.type_name = normalize(words.name).strip()
        self.forms = {a: words.forms.get(a, (a,)) for a in goal.attributes}
        self.seen: dict[str, _Seen] = {}
        self.rejected: set[str] = set()
        self.chosen: dict[str, str] = {}
        self.searches = 0
        self.page_no = 1
        self.pages_turned = 0
        self.last_sub: str | None = None
        self.lacking: str | None = None
        self.lacking_titles: set[str] = set()
        self.current: str | None = None
        self.instruction = normalize(goal.instruction_text)

    def act(self, info: dict) -> str:
        """The next action for the page ``info`` describes."""
        return self.act_with_reason(info)[0]

    def act_with_reason(self, info: dict) -> tuple[str, str]:
        """The next action and a short reason for it (for <think> demonstrations)."""
        page = info["page"]
        texts = info["observation"].split(_SEP)
        steps_left = self.max_steps - info["step"]
        clickables = info["available_actions"]["clickables"]
        if page == "search":
            return self._search()
        if page == "results":
            return self._results(texts, clickables, steps_left)
        if page == "item":
            return self._item(texts, clickables, steps_left)
        if page == "sub":
            return self._sub(texts)
        raise ValueError(f"the expert cannot act on the {page!r} page")

    # -- wording ------------------------------------------------------------------------

    def _asked(self, attr: str) -> str:
        """How the instruction words ``attr``: the form it contains, quoted (else an unquoted
        description, so that a reason never quotes text the expert has not read)."""
        for form in self.forms[attr]:
            if f" {normalize(form).strip()} " in self.instruction:
                return _q(form)
        return "a feature the instruction asks for"

    def _want(self) -> str:
        parts = [f"{self._asked(a)}" for a in self.goal.attributes]
        text = f"{'an' if self.type_name[:1] in 'aeiou' else 'a'} {self.type_name}"
        if parts:
            text += " that is " + ", ".join(parts)
        if self.goal.price_upper < NO_PRICE_LIMIT:
            text += f", under ${self.goal.price_upper:.2f}"
        return text

    # -- search page --------------------------------------------------------------------

    def _search(self) -> tuple[str, str]:
        self.searches += 1
        self.page_no, self.current = 1, None
        if self.searches == 1 and self.query == "instruction":
            return f"search[{self.goal.instruction_text}]", "I search for the instruction as " \
                "it is written."
        if self.searches == 1:
            query = expert_query(self.goal, self.type_name)
            return f"search[{query}]", f"I need {self._want()}. I search for the type with " \
                "the wanted features and options."
        if self.lacking:
            # The listings I read lacked this attribute: ask for it in all its wordings.
            words = [self.type_name, *self.forms[self.lacking]]
            words += [a for a in self.goal.attributes if a != self.lacking]
            why = f"The listings I checked lack {self._asked(self.lacking)}, so I search " \
                "again with the other ways of saying it."
        else:
            words = [self.type_name]
            for attr in self.goal.attributes:
                others = [f for f in self.forms[attr] if f != attr]
                words.append(others[0] if others else attr)
            why = "The first search gave nothing that fits, so I search again with other " \
                "words for the same features."
        return f"search[{' '.join(words + list(self.goal.goal_options))}]", why

    # -- results page -------------------------------------------------------------------

    def _type_fit(self, title: str) -> float:
        words = self.type_name.split()
        n = normalize(title)
        if f" {self.type_name} " in n:
            return 1.0
        # The type's words scattered over a title ("Rain Jacket Winter Coat" for a winter
        # jacket) are weaker evidence than the type's name.
        return 0.9 * sum(f" {w} " in n for w in words) / max(len(words), 1)

    def _price_fit(self, tag: str) -> int:
        """2: the whole price is within the limit, 1: part of a range is, 0: none."""
        lo, hi = _price_range(tag)
        if hi <= self.goal.price_upper:
            return 2
        return 1 if lo <= self.goal.price_upper else 0

    def _title_hits(self, s: _Seen) -> list[str]:
        return [a for a in self.goal.attributes
                if (ev := s.evidence(self.forms[a])) is not None and ev[0] == "title"]

    def _results(self, texts: list[str], clickables: list[str], steps_left: int
                 ) -> tuple[str, str]:
        m = next((_TOTAL.fullmatch(t) for t in texts if _TOTAL.fullmatch(t)), None)
        self.page_no, total = (int(m.group(1)), int(m.group(2))) if m else (1, 0)
        asins = [c for c in clickables if c not in _NAV]
        listed = []
        positions = {t.lower(): i for i, t in enumerate(texts)}
        for asin in asins:
            i = positions.get(asin)
            if i is None or i + 2 >= len(texts):
                continue
            s = self.seen.setdefault(asin, _Seen(asin, texts[i + 1], texts[i + 2]))
            listed.append(s)
        # A listing with the title of one that lacked an attribute repeats its text.
        fresh = [s for s in listed if s.asin not in self.rejected
                 and s.title not in self.lacking_titles]
        ranked = sorted(fresh, key=lambda s: (-self._type_fit(s.title),
                                              self._price_fit(s.price) == 0, listed.index(s)))
        ranked = [s for _, s in sorted(enumerate(ranked), key=lambda x: self._order(*x))]
        viable = [s for s in ranked if self._type_fit(s.title) >= 0.5 and self._price_fit(s.price)]
        need = 2 + len(self.goal.goal_options)
        more_pages = self.page_no * PRODUCT_WINDOW < min(total, SEARCH_RETURN_N)
        if viable and (steps_left >= need or not more_pages):
            return self._open(viable[0])
        if more_pages and self.pages_turned < _MAX_PAGES and steps_left > need + 1:
            self.pages_turned += 1
            return "click[next >]", f"No listing on page {self.page_no} is {self._want()} " \
                "that I have not ruled out, so I look at the next page."
        if self.searches < _MAX_SEARCHES and steps_left > need + 2:
            return "click[back to search]", "Nothing in these results fits what the " \
                "instruction asks for; I go back to search with other words."
        if viable or ranked:
            return self._open((viable or ranked)[0])
        if self.page_no > 1:
            return "click[< prev]", "This page is empty; back to the previous one."
        return "click[back to search]", "The search found nothing; I search again."

    def _order(self, place: int, s: _Seen) -> float:
        """Search order, adjusted by what the results show: a title that names every wanted
        attribute needs no sub-page and is more often right (worth two places, one that
        names some a third of one); a price range reaching over the limit may still be
        charged within it (it costs two places)."""
        hits = len(self._title_hits(s))
        full = bool(self.goal.attributes) and hits == len(self.goal.attributes)
        return place - 2 * full - (0 < hits and not full) / 3 + 2 * (self._price_fit(s.price) == 1)

    def _open(self, s: _Seen) -> tuple[str, str]:
        self.current, self.chosen = s.asin, {}
        hits = self._title_hits(s)
        reason = f"{_q(s.title)} at {s.price} looks like {self._want()}"
        if hits:
            reason += "; its title mentions " + ", ".join(
                _q(s.evidence(self.forms[a])[2]) for a in hits)
        if self._price_fit(s.price) == 1:
            reason += "; part of its price range is over the limit, but it is the best lead"
        return f"click[{s.asin}]", reason + ". I open it to check."

    # -- item page ----------------------------------------------------------------------

    def _parse_item(self, texts: list[str], clickables: list[str]) -> _Seen:
        start = texts.index("< Prev") + 1
        price_at = next(i for i in range(start, len(texts)) if texts[i].startswith("Price: "))
        title, price = texts[price_at - 1], texts[price_at].removeprefix("Price: ")
        values = set(clickables) - _ITEM_BUTTONS
        options: dict[str, list[str]] = {}
        name = None
        for t in texts[start:price_at - 1]:
            if t in values and name is not None:
                options[name].append(t)
            else:
                name = t
                options[name] = []
        asin = self.current
        s = self.seen.get(asin) or self.seen.setdefault(asin, _Seen(asin, title, price))
        s.options = options
        return s

    def _match_value(self, wanted: str, options: dict[str, list[str]]) -> tuple[str, str] | None:
        """(option name, page value) for a wanted value: the value itself, else one written
        with other punctuation ("navy | blue" for "navy blue"). Not the reward's fuzzy match,
        which takes "10 count" for "50 count": a shopper reads the number."""
        for name, values in options.items():
            if wanted in values:
                return name, wanted
        for name, values in options.items():
            for v in values:
                if normalize(v) == normalize(wanted):
                    return name, v
        return None

    def _reject(self, s: _Seen, why: str) -> tuple[str, str]:
        self.rejected.add(s.asin)
        self.chosen = {}
        return "click[< prev]", f"{why}, so this item does not fit; back to the results."

    def _item(self, texts: list[str], clickables: list[str], steps_left: int
              ) -> tuple[str, str]:
        if self.current is None:
            raise ValueError("the expert reached an item page it did not open")
        s = self._parse_item(texts, clickables)
        wanted = [(o, self._match_value(o, s.options)) for o in self.goal.goal_options]
        to_click = [(o, m) for o, m in wanted if m is not None and self.chosen.get(m[0]) != m[1]]
        finish = len(to_click) + 1
        # Ruling this item out leaves time for another: back, open, options, buy, and one
        # sub-page of slack.
        k = len(self.goal.goal_options)
        can_retry = steps_left >= k + 5
        if self._price_fit(s.price) == 0 and can_retry:
            return self._reject(s, f"Its price {s.price} is over "
                                   f"${self.goal.price_upper:.2f}")
        missing = [o for o, m in wanted if m is None]
        if missing and can_retry:
            shown = "; ".join(f"{n}: {', '.join(v)}" for n, v in s.options.items()) or "none"
            return self._reject(s, f"The options ({shown}) do not include "
                                   f"{self._asked_option(missing[0])}")
        unconfirmed = [a for a in self.goal.attributes if s.evidence(self.forms[a]) is None]
        if unconfirmed:
            sub = next((x for x in ("description", "features") if x not in s.texts), None)
            if sub is not None and steps_left >= finish + 2:
                self.last_sub = sub
                return f"click[{sub}]", f"Nothing I have read about {_q(s.title)} confirms " \
                    f"{self._asked(unconfirmed[0])} yet; I check its {sub}."
            if sub is None and can_retry:
                why = f"Neither its title, features nor description mention " \
                      f"{self._asked(unconfirmed[0])}"
                self.lacking_titles.add(s.title)
                if self.searches < _MAX_SEARCHES and steps_left >= k + 6:
                    self.rejected.add(s.asin)
                    self.lacking = unconfirmed[0]
                    return "click[back to search]", f"{why}, so this item does not fit; I " \
                        "search again for it."
                return self._reject(s, why)
        if to_click:
            o, (name, value) = to_click[0]
            self.chosen[name] = value
            return f"click[{value}]", f"The instruction asks for {self._asked_option(o)}; " \
                f"the {name} options list {_q(value)}, so I select it."
        return "click[buy now]", self._buy_reason(s, unconfirmed)

    def _asked_option(self, value: str) -> str:
        """The instruction's wording of an option value, quoted; else a plain description."""
        for phrase in value_phrases(value):
            if f" {normalize(phrase).strip()} " in self.instruction:
                return _q(phrase)
        return "the option it names"

    def _buy_reason(self, s: _Seen, unconfirmed: list[str]) -> str:
        parts = []
        for a in self.goal.attributes:
            ev = s.evidence(self.forms[a])
            if ev is not None:
                parts.append(f"its {ev[0]} says {_q(ev[1])}")
        reason = "; ".join(parts) if parts else f"{_q(s.title)} is the right kind of product"
        if unconfirmed:
            reason += f"; I could not confirm {self._asked(unconfirmed[0])} in the steps left"
        return f"{reason[:1].upper()}{reason[1:]}, the options are set and {s.price} fits the " \
            "budget, so I buy it."

    # -- sub-pages ----------------------------------------------------------------------

    def _sub(self, texts: list[str]) -> tuple[str, str]:
        s = self.seen[self.current]
        body = texts[texts.index("< Prev") + 1:]
        sub = self.last_sub or "description"
        s.texts[sub] = body if sub == "features" else \
            [x.strip() + "." for x in " ".join(body).split(". ") if x.strip()]
        found = [a for a in self.goal.attributes if (ev := s.evidence(self.forms[a]))
                 and ev[0] == sub]
        if found:
            ev = s.evidence(self.forms[found[0]])
            verb = "say" if sub == "features" else "says"
            reason = f"The {sub} {verb} {_q(ev[1])}, which confirms {self._asked(found[0])}"
        else:
            reason = f"The {sub} {'do' if sub == 'features' else 'does'} not mention what " \
                "I am still looking for"
        return "click[< prev]", reason + "; back to the item page."
