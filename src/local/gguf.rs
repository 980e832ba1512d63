//! Reads a GGUF file's header (metadata and tensor types) without loading weights, tolerant of
//! types candle does not know, so an unsupported file gets a sentence instead of a crash.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::local::LocalError;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// Architectures the local provider runs.
pub const SUPPORTED_ARCHITECTURES: [&str; 3] = ["llama", "qwen2", "qwen3"];

/// A scalar metadata value (arrays are summarised by their length).
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Any integer type.
    Int(i64),
    /// `f32` or `f64`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// An array, with its length.
    Array(u64),
}

/// What the header says about a model.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufInfo {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// `general.architecture` (`llama`, `qwen2`...).
    pub architecture: String,
    /// The quantization name (`Q4_1`, `Q4_K_M`...).
    pub quantization: String,
    /// `<arch>.context_length`, when present.
    pub context_length: Option<u64>,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// Tensor type ids (ggml numbering) and how many tensors use each.
    pub tensor_types: Vec<(u32, usize)>,
    /// Scalar metadata (arrays only as lengths).
    pub metadata: HashMap<String, MetaValue>,
}

impl GgufInfo {
    /// Why candle cannot run this model, if it cannot.
    pub fn unsupported(&self) -> Option<LocalError> {
        let reason = if !SUPPORTED_ARCHITECTURES.contains(&self.architecture.as_str()) {
            Some(format!("no runner for `{}`", self.architecture))
        } else {
            self.tensor_types
                .iter()
                .find(|(t, _)| !candle_supports(*t))
                .map(|(t, _)| format!("tensor type {} has no kernel", ggml_type_name(*t)))
        };
        reason.map(|reason| LocalError::Unsupported {
            path: self.path.clone(),
            architecture: self.architecture.clone(),
            quantization: self.quantization.clone(),
            reason,
        })
    }

    /// A metadata string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.metadata.get(key) {
            Some(MetaValue::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// Reads the header of `path`.
pub fn read_info(path: &Path) -> Result<GgufInfo, LocalError> {
    let file = std::fs::File::open(path).map_err(|e| LocalError::io(path, e))?;
    let size_bytes = file.metadata().map_err(|e| LocalError::io(path, e))?.len();
    let mut r = Reader {
        inner: BufReader::new(file),
        remaining: size_bytes,
    };
    let not_gguf = |reason: String| LocalError::NotGguf {
        path: path.to_path_buf(),
        reason,
    };
    let mut magic = [0u8; 4];
    r.bytes(&mut magic).map_err(not_gguf)?;
    if &magic != GGUF_MAGIC {
        return Err(not_gguf(
            "it does not start with the GGUF magic bytes".into(),
        ));
    }
    let version = r.u32().map_err(not_gguf)?;
    if !(2..=3).contains(&version) {
        return Err(not_gguf(format!("GGUF version {version} is not 2 or 3")));
    }
    let tensor_count = r.u64().map_err(not_gguf)?;
    let kv_count = r.u64().map_err(not_gguf)?;
    let mut metadata = HashMap::new();
    for _ in 0..kv_count {
        let key = r.string().map_err(not_gguf)?;
        let ty = r.u32().map_err(not_gguf)?;
        let value = r.value(ty, 0).map_err(not_gguf)?;
        metadata.insert(key, value);
    }
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for _ in 0..tensor_count {
        r.string().map_err(not_gguf)?;
        let dims = r.u32().map_err(not_gguf)?;
        if dims > 8 {
            return Err(not_gguf(format!("a tensor has {dims} dimensions")));
        }
        for _ in 0..dims {
            r.u64().map_err(not_gguf)?;
        }
        *counts.entry(r.u32().map_err(not_gguf)?).or_default() += 1;
        r.u64().map_err(not_gguf)?;
    }
    let mut tensor_types: Vec<(u32, usize)> = counts.into_iter().collect();
    tensor_types.sort();
    let architecture = match metadata.get("general.architecture") {
        Some(MetaValue::Str(s)) => s.clone(),
        _ => "unknown".to_string(),
    };
    let context_length = match metadata.get(&format!("{architecture}.context_length")) {
        Some(MetaValue::Int(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    let quantization = match metadata.get("general.file_type") {
        Some(MetaValue::Int(t)) => file_type_name(*t),
        _ => None,
    }
    .map(str::to_string)
    .unwrap_or_else(|| dominant_type(&tensor_types));
    let name = match metadata.get("general.name") {
        Some(MetaValue::Str(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(GgufInfo {
        path: path.to_path_buf(),
        size_bytes,
        architecture,
        quantization,
        context_length,
        name,
        tensor_types,
        metadata,
    })
}

/// The type used by the most tensors (weights outnumber norms), by name.
fn dominant_type(types: &[(u32, usize)]) -> String {
    types
        .iter()
        .filter(|(t, _)| *t != 0)
        .max_by_key(|(_, n)| *n)
        .or(types.first())
        .map_or_else(|| "unknown".into(), |(t, _)| ggml_type_name(*t))
}

/// Whether candle 0.11 has a kernel for ggml tensor type `t`.
fn candle_supports(t: u32) -> bool {
    matches!(t, 0..=3 | 6..=15 | 30)
}

/// The name of a ggml tensor type.
pub fn ggml_type_name(t: u32) -> String {
    const NAMES: [&str; 31] = [
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K",
        "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
        "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16",
    ];
    match t {
        34 => "TQ1_0".into(),
        35 => "TQ2_0".into(),
        39 => "MXFP4".into(),
        _ => NAMES
            .get(t as usize)
            .map_or_else(|| format!("type {t}"), |s| s.to_string()),
    }
}

/// The name of a `general.file_type` (llama.cpp's `llama_ftype`).
fn file_type_name(t: i64) -> Option<&'static str> {
    Some(match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4",
        _ => return None,
    })
}

/// A bounded little-endian reader: no read may go past the end of the file, so a corrupt
/// length cannot make it allocate gigabytes.
struct Reader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Reader<R> {
    fn bytes(&mut self, buf: &mut [u8]) -> Result<(), String> {
        if buf.len() as u64 > self.remaining {
            return Err("the file ends inside its header".into());
        }
        self.inner
            .read_exact(buf)
            .map_err(|e| format!("reading the header: {e}"))?;
        self.remaining -= buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut b = [0u8; N];
        self.bytes(&mut b)?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u64()?;
        if len > self.remaining {
            return Err(format!("a string of {len} bytes is longer than the file"));
        }
        let mut buf = vec![0u8; len as usize];
        self.bytes(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<MetaValue, String> {
        Ok(match ty {
            0 => MetaValue::Int(self.array::<1>()?[0] as i64),
            1 => MetaValue::Int(self.array::<1>()?[0] as i8 as i64),
            2 => MetaValue::Int(u16::from_le_bytes(self.array()?) as i64),
            3 => MetaValue::Int(i16::from_le_bytes(self.array()?) as i64),
            4 => MetaValue::Int(self.u32()? as i64),
            5 => MetaValue::Int(i32::from_le_bytes(self.array()?) as i64),
            6 => MetaValue::Float(f32::from_le_bytes(self.array()?) as f64),
            7 => MetaValue::Bool(self.array::<1>()?[0] != 0),
            8 => MetaValue::Str(self.string()?),
            9 if depth == 0 => {
                let item = self.u32()?;
                let len = self.u64()?;
                if len > self.remaining {
                    return Err(format!("an array of {len} items is longer than the file"));
                }
                for _ in 0..len {
                    self.value(item, depth + 1)?;
                }
                MetaValue::Array(len)
            }
            10 => MetaValue::Int(self.u64()? as i64),
            11 => MetaValue::Int(i64::from_le_bytes(self.array()?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.array()?)),
            other => return Err(format!("unknown metadata value type {other}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        f
    }

    fn header(arch: &str, tensor_type: u32) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(1u64.to_le_bytes()); // tensors
        b.extend(2u64.to_le_bytes()); // kvs
        let s = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u64).to_le_bytes());
            b.extend(s.as_bytes());
        };
        s(&mut b, "general.architecture");
        b.extend(8u32.to_le_bytes());
        s(&mut b, arch);
        s(&mut b, &format!("{arch}.context_length"));
        b.extend(4u32.to_le_bytes());
        b.extend(2048u32.to_le_bytes());
        s(&mut b, "w");
        b.extend(1u32.to_le_bytes());
        b.extend(32u64.to_le_bytes());
        b.extend(tensor_type.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b
    }

    #[test]
    fn a_header_gives_architecture_context_and_quantization() {
        let f = write(&header("llama", 3));
        let info = read_info(f.path()).unwrap();
        assert_eq!(info.architecture, "llama");
        assert_eq!(info.context_length, Some(2048));
        assert_eq!(info.quantization, "Q4_1");
        assert!(info.unsupported().is_none());
    }

    #[test]
    fn unknown_architecture_and_type_are_named_in_one_sentence() {
        let f = write(&header("mamba", 23));
        let msg = read_info(f.path())
            .unwrap()
            .unsupported()
            .unwrap()
            .to_string();
        assert!(msg.contains("mamba") && msg.contains("IQ4_XS"), "{msg}");
        let f = write(&header("llama", 23));
        let msg = read_info(f.path())
            .unwrap()
            .unsupported()
            .unwrap()
            .to_string();
        assert!(msg.contains("`llama`") && msg.contains("IQ4_XS"), "{msg}");
    }

    #[test]
    fn garbage_and_truncated_files_are_not_gguf() {
        let f = write(b"<html>not found</html>");
        assert!(matches!(
            read_info(f.path()),
            Err(LocalError::NotGguf { .. })
        ));
        let h = header("llama", 3);
        let f = write(&h[..h.len() - 5]);
        assert!(matches!(
            read_info(f.path()),
            Err(LocalError::NotGguf { .. })
        ));
        let mut h = header("llama", 3);
        h[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let f = write(&h);
        assert!(matches!(
            read_info(f.path()),
            Err(LocalError::NotGguf { .. })
        ));
    }
}
