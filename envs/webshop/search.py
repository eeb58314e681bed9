"""BM25 search over the catalog, as the original's pyserini (Lucene) index.

Analysis follows Lucene's English analyzer that pyserini indexed WebShop with: the standard
tokenizer (words and numbers, one-character tokens kept, "6.5" and "e.g" kept whole, "usb-c"
split), lower case, the possessive "'s" removed, Lucene's 33 stop words and Porter stems. It
runs in bm25s's `Tokenizer`; scores use bm25s's Lucene BM25 (k1=0.9, b=0.4, the Anserini
defaults) through `bm25s.BM25.get_scores_from_ids`.

The index is built from a stream of documents in chunks, so a catalog of a million listings
never holds its token lists at once: each chunk is reduced to (document, term, count) arrays,
and the score matrix is assembled at the end. Results are ranked by score, ties by document
order (Lucene breaks ties by document id), and only documents sharing a term with the query
are returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

K1, B = 0.9, 0.4
CHUNK = 20_000
# Lucene's standard tokenizer (UAX#29 word breaks), approximated: runs of word characters,
# joined across "." and "'" inside a word and "," inside a number.
_TOKEN = re.compile(r"\w+(?:(?:[.'’]|(?<=\d),(?=\d))\w+)*")
LUCENE_STOPWORDS = (
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with")


def split_words(text: str) -> list[str]:
    """Lucene's tokens of lower-cased ``text``, possessives removed (before stop words and
    stemming)."""
    out = []
    for token in _TOKEN.findall(text):
        if token.endswith(("'s", "’s")):
            token = token[:-2]
        if token:
            out.append(token)
    return out


def make_tokenizer():
    """The analyzer: bm25s's tokenizer with Lucene's tokens, stop words and Porter stems."""
    # lazy here and in SearchIndex: bm25s and scipy cost ~2.5 s at import, paid only by a search
    import Stemmer
    from bm25s.tokenization import Tokenizer

    return Tokenizer(lower=True, splitter=split_words, stopwords=list(LUCENE_STOPWORDS),
                     stemmer=Stemmer.Stemmer("porter"))


class SearchIndex:
    """A BM25 index over documents given as a stream of texts (one per product)."""

    def __init__(self, texts: Iterable[str], *, bar=None, chunk: int = CHUNK):
        import bm25s
        import scipy.sparse as sp

        self.tokenizer = make_tokenizer()
        docs, terms, tfs, lengths = [], [], [], []
        n = 0
        batch: list[str] = []

        def flush() -> None:
            nonlocal n
            ids = self.tokenizer.tokenize(batch, update_vocab=True, show_progress=False,
                                          return_as="ids", allow_empty=False)
            counts = np.fromiter((len(d) for d in ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter((t for d in ids for t in d), dtype=np.int64,
                               count=int(counts.sum()))
            local = np.repeat(np.arange(len(ids), dtype=np.int64), counts)
            keys, tf = np.unique(local << 32 | flat, return_counts=True)
            docs.append((keys >> 32).astype(np.int32) + n)
            terms.append((keys & 0xFFFFFFFF).astype(np.int32))
            tfs.append(tf.astype(np.float32))
            lengths.append(counts.astype(np.float32))
            n += len(ids)
            if bar is not None:
                bar.update(len(ids))
            batch.clear()

        for text in texts:
            batch.append(text)
            if len(batch) >= chunk:
                flush()
        if batch or n == 0:
            flush()
        doc = np.concatenate(docs)
        term = np.concatenate(terms)
        tf = np.concatenate(tfs)
        length = np.concatenate(lengths)
        del docs, terms, tfs, lengths
        vocab = max(len(self.tokenizer.get_vocab_dict()), int(term.max(initial=-1)) + 1)
        df = np.bincount(term, minlength=vocab).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = float(length.mean()) if n and length.mean() > 0 else 1.0
        norm = (K1 * (1 - B + B * length / avg)).astype(np.float32)
        score = idf[term] * tf / (tf + norm[doc])
        matrix = sp.csc_matrix((score, (doc, term)), shape=(n, vocab), dtype=np.float32)
        self.bm25 = bm25s.BM25(method="lucene", k1=K1, b=B)
        self.bm25.scores = {"data": matrix.data, "indices": matrix.indices,
                            "indptr": matrix.indptr, "num_docs": n}
        self.bm25.nonoccurrence_array = None  # only BM25L and BM25+ use one
        self.num_docs = n

    def query_ids(self, query: str) -> list[int]:
        """The query's term ids (repeats kept, unknown terms dropped)."""
        ids = self.tokenizer.tokenize([query], update_vocab=False, show_progress=False,
                                      return_as="ids", allow_empty=False)[0]
        return list(ids)

    def scores(self, query: str) -> np.ndarray:
        """float32 [num_docs]: every document's BM25 score for ``query``."""
        ids = self.query_ids(query)
        if not ids:
            return np.zeros(self.num_docs, np.float32)
        return self.bm25.get_scores_from_ids(ids)

    def search(self, query: str, k: int) -> list[int]:
        """Indices of the best ``k`` documents with a positive score, best first."""
        scores = self.scores(query)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            keep = np.argpartition(-scores[hits], k - 1)[:k]
            cut = scores[hits[keep]].min()
            hits = hits[scores[hits] >= cut]
        order = np.lexsort((hits, -scores[hits]))
        return hits[order][:k].tolist()
