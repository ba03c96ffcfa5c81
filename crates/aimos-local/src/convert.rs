//! Turning a sentence-embedding BERT model published as `model.safetensors` plus a WordPiece
//! `vocab.txt` into the GGUF file llama.cpp runs.
//!
//! Weight matrices are stored as F16 and everything one-dimensional as F32. The output depends
//! only on the input bytes, so the catalog pins its SHA-256 like any other model file.

use std::collections::BTreeMap;
use std::io::{self, Write};

/// What a BERT model's `config.json` says about its shape; the catalog pins it per model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BertShape {
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub feed_forward: u32,
    pub max_positions: u32,
    pub layer_norm_eps: f32,
}

/// Why a conversion failed: the input is not the model the catalog describes.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("model.safetensors is malformed: {0}")]
    Safetensors(String),
    #[error("model.safetensors lacks the tensor `{0}`")]
    Missing(String),
    #[error("the tensor `{name}` has shape {actual:?}, expected {expected:?}")]
    Shape { name: String, actual: Vec<u64>, expected: Vec<u64> },
    #[error("vocab.txt is empty or not UTF-8")]
    Vocab,
    #[error(transparent)]
    Io(#[from] io::Error),
}

struct Tensor<'a> {
    shape: Vec<u64>,
    data: &'a [u8],
}

/// Reads the tensors of a safetensors file (all F32 except ones this conversion skips).
fn read_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, Tensor<'_>>, ConvertError> {
    let bad = |what: &str| ConvertError::Safetensors(what.to_owned());
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize)
        .ok_or_else(|| bad("shorter than its header"))?;
    let header = bytes.get(8..8 + header_len).ok_or_else(|| bad("header past the end"))?;
    let data = &bytes[8 + header_len..];
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|err| bad(&format!("header: {err}")))?;
    let mut out = BTreeMap::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info["dtype"].as_str().unwrap_or_default();
        let shape: Vec<u64> = info["shape"]
            .as_array()
            .map(|dims| dims.iter().filter_map(serde_json::Value::as_u64).collect())
            .ok_or_else(|| bad(&format!("{name} has no shape")))?;
        let offsets = info["data_offsets"].as_array().ok_or_else(|| bad(&name))?;
        let (start, end) = match offsets.as_slice() {
            [a, b] => (a.as_u64().unwrap_or(u64::MAX) as usize, b.as_u64().unwrap_or(0) as usize),
            _ => return Err(bad(&format!("{name} has no data offsets"))),
        };
        let slice =
            data.get(start..end).ok_or_else(|| bad(&format!("{name} lies past the end")))?;
        if dtype != "F32" {
            continue; // position ids (I64) are not weights
        }
        if slice.len() as u64 != shape.iter().product::<u64>() * 4 {
            return Err(bad(&format!("{name}: size does not match its shape")));
        }
        out.insert(name, Tensor { shape, data: slice });
    }
    Ok(out)
}

/// The GGUF tensor name for a Hugging Face BERT tensor name, or `None` for tensors llama.cpp
/// does not use (the pooler).
fn gguf_name(hf: &str) -> Option<String> {
    let fixed = [
        ("embeddings.word_embeddings.weight", "token_embd.weight"),
        ("embeddings.position_embeddings.weight", "position_embd.weight"),
        ("embeddings.token_type_embeddings.weight", "token_types.weight"),
        ("embeddings.LayerNorm.weight", "token_embd_norm.weight"),
        ("embeddings.LayerNorm.bias", "token_embd_norm.bias"),
    ];
    if let Some((_, to)) = fixed.iter().find(|(from, _)| *from == hf) {
        return Some((*to).to_owned());
    }
    let rest = hf.strip_prefix("encoder.layer.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: u32 = layer.parse().ok()?;
    let (module, kind) = part.rsplit_once('.')?;
    let to = match module {
        "attention.self.query" => "attn_q",
        "attention.self.key" => "attn_k",
        "attention.self.value" => "attn_v",
        "attention.output.dense" => "attn_output",
        "attention.output.LayerNorm" => "attn_output_norm",
        "intermediate.dense" => "ffn_up",
        "output.dense" => "ffn_down",
        "output.LayerNorm" => "layer_output_norm",
        _ => return None,
    };
    Some(format!("blk.{layer}.{to}.{kind}"))
}

/// The tensors the shape requires, with their expected Hugging Face shapes.
fn expected_tensors(shape: &BertShape, vocab: u64) -> Vec<(String, Vec<u64>)> {
    let (h, ff) = (u64::from(shape.hidden), u64::from(shape.feed_forward));
    let mut out = vec![
        ("embeddings.word_embeddings.weight".to_owned(), vec![vocab, h]),
        (
            "embeddings.position_embeddings.weight".to_owned(),
            vec![u64::from(shape.max_positions), h],
        ),
        ("embeddings.token_type_embeddings.weight".to_owned(), vec![2, h]),
        ("embeddings.LayerNorm.weight".to_owned(), vec![h]),
        ("embeddings.LayerNorm.bias".to_owned(), vec![h]),
    ];
    for layer in 0..shape.layers {
        let p = format!("encoder.layer.{layer}.");
        for (module, dims) in [
            ("attention.self.query", vec![h, h]),
            ("attention.self.key", vec![h, h]),
            ("attention.self.value", vec![h, h]),
            ("attention.output.dense", vec![h, h]),
            ("intermediate.dense", vec![ff, h]),
            ("output.dense", vec![h, ff]),
        ] {
            out.push((format!("{p}{module}.bias"), vec![dims[0]]));
            out.push((format!("{p}{module}.weight"), dims));
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            out.push((format!("{p}{norm}.weight"), vec![h]));
            out.push((format!("{p}{norm}.bias"), vec![h]));
        }
    }
    out
}

/// An F32 value as IEEE half precision, rounded to nearest even.
pub(crate) fn f16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x007f_ffff;
    if exp == 0xff {
        // Infinity or NaN (kept a NaN).
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        // Subnormal: shift the mantissa with its hidden bit into place, rounding.
        let m = mant | 0x0080_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round = rem > halfway || (rem == halfway && half & 1 == 1);
        return sign | (half + u32::from(round)) as u16;
    }
    let half = ((e as u32) << 10) | (mant >> 13);
    let rem = mant & 0x1fff;
    let round = rem > 0x1000 || (rem == 0x1000 && half & 1 == 1);
    sign | (half + u32::from(round)) as u16
}

/// The vocabulary as llama.cpp's WordPiece tokenizer wants it: word-initial pieces carry the
/// `▁` marker, continuation pieces lose their `##`, and bracketed special tokens stay as they are.
fn gguf_tokens(vocab_txt: &str) -> Vec<String> {
    vocab_txt
        .lines()
        .map(|token| {
            if token.starts_with('[') && token.ends_with(']') {
                token.to_owned()
            } else if let Some(piece) = token.strip_prefix("##") {
                piece.to_owned()
            } else {
                format!("\u{2581}{token}")
            }
        })
        .collect()
}

/// GGUF's value types that this writer uses.
const U32: u32 = 4;
const I32: u32 = 5;
const F32: u32 = 6;
const BOOL: u32 = 7;
const STRING: u32 = 8;
const ARRAY: u32 = 9;
const ALIGN: u64 = 32;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

enum Value {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    Strings(Vec<String>),
    I32s(Vec<i32>),
}

fn put_kv(out: &mut Vec<u8>, key: &str, value: &Value) {
    put_str(out, key);
    match value {
        Value::U32(v) => {
            out.extend_from_slice(&U32.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::F32(v) => {
            out.extend_from_slice(&F32.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Bool(v) => {
            out.extend_from_slice(&BOOL.to_le_bytes());
            out.push(u8::from(*v));
        }
        Value::Str(v) => {
            out.extend_from_slice(&STRING.to_le_bytes());
            put_str(out, v);
        }
        Value::Strings(items) => {
            out.extend_from_slice(&ARRAY.to_le_bytes());
            out.extend_from_slice(&STRING.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_str(out, item);
            }
        }
        Value::I32s(items) => {
            out.extend_from_slice(&ARRAY.to_le_bytes());
            out.extend_from_slice(&I32.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                out.extend_from_slice(&item.to_le_bytes());
            }
        }
    }
}

/// Writes the GGUF file for a BERT sentence-embedding model with mean pooling.
pub fn bert_to_gguf(
    name: &str,
    safetensors: &[u8],
    vocab_txt: &[u8],
    shape: &BertShape,
    out: &mut dyn Write,
) -> Result<(), ConvertError> {
    let vocab_txt = std::str::from_utf8(vocab_txt).map_err(|_| ConvertError::Vocab)?;
    let tokens = gguf_tokens(vocab_txt);
    if tokens.is_empty() {
        return Err(ConvertError::Vocab);
    }
    let tensors = read_safetensors(safetensors)?;
    let expected = expected_tensors(shape, tokens.len() as u64);

    // Tensor headers, with each one's offset in the data section.
    struct Planned<'a> {
        name: String,
        tensor: &'a Tensor<'a>,
        half: bool,
        offset: u64,
    }
    let mut planned = Vec::with_capacity(expected.len());
    let mut offset = 0u64;
    for (hf, dims) in &expected {
        let tensor = tensors.get(hf).ok_or_else(|| ConvertError::Missing(hf.clone()))?;
        if &tensor.shape != dims {
            return Err(ConvertError::Shape {
                name: hf.clone(),
                actual: tensor.shape.clone(),
                expected: dims.clone(),
            });
        }
        let Some(name) = gguf_name(hf) else { continue };
        let half = dims.len() == 2 && !hf.contains("token_type");
        let elements: u64 = dims.iter().product();
        planned.push(Planned { name, tensor, half, offset });
        offset += (elements * if half { 2 } else { 4 }).next_multiple_of(ALIGN);
    }

    let token_types: Vec<i32> = tokens
        .iter()
        .map(|t| match t.as_str() {
            "[UNK]" => 2,
            t if t.starts_with("[unused") => 5,
            t if t.starts_with('[') && t.ends_with(']') => 3,
            _ => 1,
        })
        .collect();
    let arch = "bert";
    let kvs: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::Str(arch.into())),
        ("general.name".into(), Value::Str(name.into())),
        (format!("{arch}.context_length"), Value::U32(shape.max_positions)),
        (format!("{arch}.embedding_length"), Value::U32(shape.hidden)),
        (format!("{arch}.feed_forward_length"), Value::U32(shape.feed_forward)),
        (format!("{arch}.block_count"), Value::U32(shape.layers)),
        (format!("{arch}.attention.head_count"), Value::U32(shape.heads)),
        (format!("{arch}.attention.layer_norm_epsilon"), Value::F32(shape.layer_norm_eps)),
        (format!("{arch}.attention.causal"), Value::Bool(false)),
        // 1: the mean of the token vectors, as sentence-transformers pools this model.
        (format!("{arch}.pooling_type"), Value::U32(1)),
        ("tokenizer.ggml.model".into(), Value::Str("bert".into())),
        ("tokenizer.ggml.tokens".into(), Value::Strings(tokens.clone())),
        ("tokenizer.ggml.token_type".into(), Value::I32s(token_types)),
        ("tokenizer.ggml.token_type_count".into(), Value::U32(2)),
    ];
    let mut ids: Vec<(String, Value)> = Vec::new();
    for (key, token) in [
        ("tokenizer.ggml.unknown_token_id", "[UNK]"),
        ("tokenizer.ggml.seperator_token_id", "[SEP]"),
        ("tokenizer.ggml.padding_token_id", "[PAD]"),
        ("tokenizer.ggml.cls_token_id", "[CLS]"),
        ("tokenizer.ggml.mask_token_id", "[MASK]"),
    ] {
        if let Some(id) = tokens.iter().position(|t| t == token) {
            ids.push((key.into(), Value::U32(id as u32)));
        }
    }

    let mut head = Vec::with_capacity(1 << 20);
    head.extend_from_slice(b"GGUF");
    head.extend_from_slice(&3u32.to_le_bytes());
    head.extend_from_slice(&(planned.len() as u64).to_le_bytes());
    head.extend_from_slice(&((kvs.len() + ids.len()) as u64).to_le_bytes());
    for (key, value) in kvs.iter().chain(&ids) {
        put_kv(&mut head, key, value);
    }
    for tensor in &planned {
        put_str(&mut head, &tensor.name);
        let dims = &tensor.tensor.shape;
        head.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        // GGUF lists the fastest-moving dimension first.
        for dim in dims.iter().rev() {
            head.extend_from_slice(&dim.to_le_bytes());
        }
        head.extend_from_slice(&u32::from(tensor.half).to_le_bytes()); // 0 = F32, 1 = F16
        head.extend_from_slice(&tensor.offset.to_le_bytes());
    }
    head.resize((head.len() as u64).next_multiple_of(ALIGN) as usize, 0);
    out.write_all(&head)?;

    let mut written = 0u64;
    let mut buf = Vec::with_capacity(1 << 20);
    for tensor in &planned {
        out.write_all(&vec![0u8; (tensor.offset - written) as usize])?;
        buf.clear();
        for value in tensor.tensor.data.chunks_exact(4) {
            let value = f32::from_le_bytes([value[0], value[1], value[2], value[3]]);
            if tensor.half {
                buf.extend_from_slice(&f16_bits(value).to_le_bytes());
            } else {
                buf.extend_from_slice(&value.to_le_bytes());
            }
        }
        out.write_all(&buf)?;
        written = tensor.offset + buf.len() as u64;
    }
    let end = written.next_multiple_of(ALIGN);
    out.write_all(&vec![0u8; (end - written) as usize])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_rounds_to_nearest_even() {
        assert_eq!(f16_bits(0.0), 0x0000);
        assert_eq!(f16_bits(-0.0), 0x8000);
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(65504.0), 0x7bff);
        assert_eq!(f16_bits(1e6), 0x7c00);
        assert_eq!(f16_bits(f32::NAN) & 0x7c00, 0x7c00);
        // The smallest subnormal half, and a value halfway between 1 and the next half.
        assert_eq!(f16_bits(5.960_464_5e-8), 0x0001);
        assert_eq!(f16_bits(1.0 + 1.0 / 2048.0), 0x3c00);
        assert_eq!(f16_bits(1.0 + 3.0 / 2048.0), 0x3c02);
        assert_eq!(f16_bits(0.1), 0x2e66);
    }

    #[test]
    fn tokens_get_word_markers_and_lose_continuation_marks() {
        let tokens = gguf_tokens("[PAD]\n[unused0]\nthe\n##ing\n!\n");
        assert_eq!(tokens, ["[PAD]", "[unused0]", "\u{2581}the", "ing", "\u{2581}!"]);
    }

    #[test]
    fn names_map_and_the_pooler_is_left_out() {
        assert_eq!(
            gguf_name("encoder.layer.3.attention.self.query.weight").as_deref(),
            Some("blk.3.attn_q.weight")
        );
        assert_eq!(
            gguf_name("encoder.layer.0.output.LayerNorm.bias").as_deref(),
            Some("blk.0.layer_output_norm.bias")
        );
        assert_eq!(gguf_name("pooler.dense.weight"), None);
    }

    #[test]
    fn a_wrong_shape_or_missing_tensor_is_named() {
        let shape = BertShape {
            layers: 1,
            hidden: 2,
            heads: 1,
            feed_forward: 4,
            max_positions: 8,
            layer_norm_eps: 1e-12,
        };
        let header = br#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[3,3],"data_offsets":[0,36]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend_from_slice(&[0u8; 36]);
        let err = bert_to_gguf("t", &file, b"[PAD]\na\nb\n", &shape, &mut Vec::new())
            .expect_err("wrong shape");
        assert!(err.to_string().contains("[3, 3]"), "{err}");
        let err =
            bert_to_gguf("t", &file[..20], b"a\n", &shape, &mut Vec::new()).expect_err("truncated");
        assert!(err.to_string().contains("malformed"), "{err}");
    }
}
