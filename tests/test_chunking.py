"""Token-bounded chunking with the model's own tokenizer."""

from __future__ import annotations

import hashlib
import re

import pytest

from index.chunking import PageText, chunk_pages, content_hash, load_tokenizer, normalise_text
from index_helpers import model_path

# Generated prose: varied words and sentence ends, long enough for many windows.
WORDS = ("speculative decoding drafts several tokens then verifies them in one pass of the target model "
         "so the accepted prefix costs one forward step; FlashAttention-2 tiles the softmax to stay in SRAM. "
         "KV-cache quantization to FP8 or INT4 shrinks memory, and W4A8KV4 serving mixes widths.").split()


def _prose(n_words: int, offset: int = 0) -> str:
    # Every fifth word is a running number so no two windows repeat the same text.
    return " ".join(str(i) if i % 5 == 4 else WORDS[(i + offset) % len(WORDS)] for i in range(n_words))


def _tokens(text: str) -> int:
    return len(load_tokenizer(str(model_path())).encode(text, add_special_tokens=False).ids)


def test_short_section_is_one_chunk():
    text = "PagedAttention keeps the KV cache in blocks."
    [chunk] = chunk_pages([PageText(3, text, "Method")], model_path())
    assert (chunk.text, chunk.page, chunk.section, chunk.ord) == (text, 3, "Method", 0)
    assert chunk.token_count == _tokens(text)
    assert chunk.content_hash == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(("max_tokens", "overlap"), [(230, 32), (64, 8), (40, 0), (16, 4)])
def test_long_text_windows_fit_and_overlap(max_tokens, overlap):
    text = _prose(1500)
    chunks = chunk_pages([PageText(1, text, "Body")], model_path(), max_tokens=max_tokens, overlap_tokens=overlap)
    assert len(chunks) > 3
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    source_words = text.split()
    covered: set[int] = set()
    position = 0
    for chunk in chunks:
        assert chunk.token_count <= max_tokens
        assert _tokens(chunk.text) == chunk.token_count
        words = chunk.text.split()
        # Whole words only, and they appear in the source in this order.
        start = next(i for i in range(position, len(source_words)) if source_words[i : i + len(words)] == words)
        covered.update(range(start, start + len(words)))
        position = start
    assert covered == set(range(len(source_words)))
    if overlap:
        assert set(chunks[0].text.split()[-2:]) <= set(chunks[1].text.split())


def test_windows_prefer_sentence_ends():
    sentences = " ".join(f"Sentence number {i} talks about kernels and memory bandwidth." for i in range(60))
    chunks = chunk_pages([PageText(1, sentences, None)], model_path(), max_tokens=60, overlap_tokens=0)
    assert all(c.text.endswith(".") for c in chunks)


def test_sections_carry_forward_and_never_mix():
    pages = [
        PageText(1, _prose(30), "Introduction"),
        PageText(2, _prose(30, 5), None),  # continues Introduction
        PageText(2, _prose(20, 9), "Method"),
        PageText(3, _prose(400, 2), None),
    ]
    chunks = chunk_pages(pages, model_path(), max_tokens=120, overlap_tokens=16)
    sections = [c.section for c in chunks]
    assert sections[0] == "Introduction"
    assert sections == sorted(sections, key=["Introduction", "Method"].index)
    intro = [c for c in chunks if c.section == "Introduction"]
    assert len(intro) == 1 and intro[0].page == 1  # 60 words, both pages, one chunk
    method = [c for c in chunks if c.section == "Method"]
    assert method[0].page == 2
    assert {c.page for c in method[1:]} == {3}


def test_no_section_and_blank_pages():
    assert chunk_pages([], model_path()) == []
    assert chunk_pages([PageText(1, "   \n ", "Empty")], model_path()) == []
    [chunk] = chunk_pages([PageText(None, "card text without headings", None)], model_path())
    assert (chunk.page, chunk.section) == (None, None)


def test_hash_ignores_whitespace_layout_and_is_stable():
    assert content_hash("FP8  weights\n\nhalve\ttraffic ") == content_hash("FP8 weights halve traffic")
    assert normalise_text(" a\u00a0b \n c ") == "a b c"
    pages = [PageText(1, _prose(700), "Body")]
    first = [c.content_hash for c in chunk_pages(pages, model_path())]
    assert first == [c.content_hash for c in chunk_pages(pages, model_path())]
    assert len(set(first)) == len(first)


def test_huge_word_gets_its_own_chunk():
    blob = "-".join(str(i) for i in range(200))  # one whitespace word, ~400 tokens
    chunks = chunk_pages([PageText(1, f"before words {blob} after words", "S")], model_path(), max_tokens=50,
                         overlap_tokens=5)
    assert any(c.text == blob for c in chunks)
    assert chunks[-1].text.endswith("after words")


def test_tokenizer_path_may_be_the_json_file():
    a = chunk_pages([PageText(1, _prose(300), "S")], model_path() / "tokenizer.json")
    b = chunk_pages([PageText(1, _prose(300), "S")], model_path())
    assert a == b


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_window_arguments(max_tokens, overlap):
    with pytest.raises(ValueError):
        chunk_pages([PageText(1, "x", None)], model_path(), max_tokens=max_tokens, overlap_tokens=overlap)


def test_chunk_text_keeps_original_spacing_inside():
    text = "First line of a table\nsecond line\n\nnew paragraph"
    [chunk] = chunk_pages([PageText(1, text, "S")], model_path())
    assert chunk.text == text
    assert re.search(r"\n\n", chunk.text)
