"""Technique-profile vectors are embedded once and left in every state dir's cache, memoized or not."""

from __future__ import annotations

import numpy as np

import agent.relevance as relevance


class _CountingEmbed:
    """Deterministic unit vectors from the text's hash, counting how many texts it was asked to embed."""

    def __init__(self) -> None:
        self.texts = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        rows = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(8) for t in texts])
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_a_second_state_dir_gets_the_vectors_already_embedded_in_this_process(catalog, tmp_path, monkeypatch):
    monkeypatch.setattr(relevance, "_LOADED", {})
    embed = _CountingEmbed()
    first = relevance.load_profiles(catalog, embed, "test-model", tmp_path / "a")
    embedded = embed.texts
    assert embedded > 0
    # another state dir in the same process: the memo answers, and the vectors are still written there,
    # so an answer process started over that dir does not embed the whole catalog on its first question
    second = relevance.load_profiles(catalog, embed, "test-model", tmp_path / "b")
    assert second is first and embed.texts == embedded
    (cached_b,) = (tmp_path / "b").glob("technique-profiles-*.npy")
    (cached_a,) = (tmp_path / "a").glob("technique-profiles-*.npy")
    assert cached_a.name == cached_b.name
    np.testing.assert_array_equal(np.load(cached_b), first.vectors)

    monkeypatch.setattr(relevance, "_LOADED", {})  # as a new process would start
    fresh = relevance.load_profiles(catalog, embed, "test-model", tmp_path / "b")
    assert embed.texts == embedded
    np.testing.assert_array_equal(fresh.vectors, first.vectors)


def test_another_model_embeds_again(catalog, tmp_path, monkeypatch):
    monkeypatch.setattr(relevance, "_LOADED", {})
    embed = _CountingEmbed()
    relevance.load_profiles(catalog, embed, "model-one", tmp_path)
    once = embed.texts
    relevance.load_profiles(catalog, embed, "model-two", tmp_path)
    assert embed.texts == 2 * once
    assert len(list(tmp_path.glob("technique-profiles-*.npy"))) == 2
