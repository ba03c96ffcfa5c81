//! Sentence embeddings, for meaning where words differ: "divided by zero" and
//! `is_divisibleby`, "big pictures" and "an image over 10 MB".
//!
//! This crate runs no model; [`Embed`] is what a model runtime provides (`aimos-local`'s
//! embedding model), and the ranking here only compares the vectors it returns.

/// Something that turns texts into unit-length vectors whose dot product measures how alike
/// their meanings are.
pub trait Embed: Send + Sync {
    /// The model's name, for notes and ledgers (`local:minilm-l6`).
    fn id(&self) -> &str;
    /// One vector per text, in order, each of length one.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
}

/// The cosine of two unit vectors: their dot product (0 when their lengths differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scales `v` to length one (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A vector as little-endian bytes, as stores keep it.
pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector from the bytes [`to_bytes`] wrote; `None` when their length is not a whole vector.
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_compare() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-6);
        assert_eq!(from_bytes(&to_bytes(&v)), Some(v.clone()));
        assert_eq!(from_bytes(&[1, 2, 3]), None);
        assert_eq!(cosine(&v, &[1.0]), 0.0);
        let mut zero = vec![0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, [0.0, 0.0]);
    }
}
