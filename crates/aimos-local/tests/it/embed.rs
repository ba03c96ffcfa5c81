//! The embedding model: the catalog's minilm-l6, converted by aimos from the published
//! safetensors, against vectors computed without llama.cpp or GGUF.

use aimos_core::dense::{Embed, cosine};
use aimos_local::{Embedder, LoadOptions, NoProgress};
use std::sync::Arc;

fn embedder() -> Arc<Embedder> {
    aimos_local::load_embedder("minilm-l6", &LoadOptions::default(), &mut NoProgress)
        .unwrap_or_else(|err| panic!("cannot load minilm-l6: {err}"))
}

/// The first eight components of each text's unit vector, as `scripts/minilm-reference.py`
/// computes them in numpy from the published `model.safetensors` and `vocab.txt`.
const REFERENCE: [(&str, [f32; 8]); 4] = [
    (
        "The cat sits on the mat.",
        [0.13418, -0.0329, -0.0248, 0.04144, -0.03635, 0.04181, 0.03122, 0.0372],
    ),
    (
        "A report names no file: unquotes percent-escapes wrongly!",
        [-0.03259, 0.0607, -0.0719, 0.08002, 0.04129, 0.05547, -0.00233, 0.05451],
    ),
    (
        "Big pictures, more than ten megabytes",
        [0.00421, 0.01097, 0.03076, -0.05729, 0.03885, -0.06202, -0.03271, 0.05274],
    ),
    (
        "an image over 10 MB",
        [0.0167, 0.06088, 0.0041, -0.07115, 0.05877, -0.09552, -0.00439, 0.06932],
    ),
];

#[test]
fn vectors_match_an_independent_computation_of_the_published_weights() {
    let embedder = embedder();
    assert_eq!(embedder.dims(), 384);
    assert_eq!(embedder.id(), "local:minilm-l6");
    let texts: Vec<&str> = REFERENCE.iter().map(|(text, _)| *text).collect();
    let vectors = embedder.embed(&texts).expect("embeddings");
    for ((text, want), got) in REFERENCE.iter().zip(&vectors) {
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{text}: length {norm}");
        for (i, (w, g)) in want.iter().zip(got).enumerate() {
            // Weights are stored in half precision.
            assert!((w - g).abs() < 4e-3, "{text}: component {i} is {g}, the reference {w}");
        }
    }
}

#[test]
fn meaning_outweighs_words_and_batching_changes_nothing() {
    let embedder = embedder();
    let texts = [
        "an image over 10 MB",
        "Big pictures, more than ten megabytes",
        "the parser rejects a trailing comma in JSON",
    ];
    let v = embedder.embed(&texts).expect("embeddings");
    let (paraphrase, unrelated) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
    assert!(paraphrase > unrelated + 0.2, "paraphrase {paraphrase}, unrelated {unrelated}");
    // One at a time, or among others in one batch: the same vector.
    let alone = embedder.embed(&[texts[1]]).expect("embedding");
    assert!(cosine(&alone[0], &v[1]) > 0.9999);
}

#[test]
fn long_empty_and_many_texts_all_get_vectors() {
    let embedder = embedder();
    let long = "a very long report line ".repeat(4000);
    let many: Vec<String> =
        (0..150).map(|i| format!("problem number {i} in module m{i}")).collect();
    let mut texts: Vec<&str> = vec![&long, "", "   "];
    texts.extend(many.iter().map(String::as_str));
    let vectors = embedder.embed(&texts).expect("embeddings");
    assert_eq!(vectors.len(), texts.len());
    assert!(vectors.iter().all(|v| v.len() == 384 && v.iter().all(|x| x.is_finite())));
    assert!(embedder.embed(&[]).expect("nothing to do").is_empty());
}

#[test]
fn a_chat_model_is_not_an_embedding_model_nor_the_reverse() {
    let options = LoadOptions { pull_if_missing: false, ..LoadOptions::default() };
    let err = aimos_local::load_embedder("smollm2-135m", &options, &mut NoProgress)
        .expect_err("a chat model");
    assert!(err.to_string().contains("is a chat model"), "{err}");
    let err = aimos_local::load("minilm-l6", &options, &mut NoProgress).expect_err("an embedder");
    assert!(err.to_string().contains("is an embedding model"), "{err}");
}
