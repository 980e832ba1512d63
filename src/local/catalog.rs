//! The models folder: which GGUF files it holds, and which file a `--model` value names.

use std::path::{Path, PathBuf};

use crate::local::LocalError;
use crate::local::gguf::{GgufInfo, read_info};

/// One entry of the folder: a readable model, or a file whose header is broken.
pub type CatalogEntry = (PathBuf, Result<GgufInfo, LocalError>);

/// The `.gguf` files in `dir`, sorted by name, each with its header (or why it is unreadable).
/// A missing folder holds nothing.
pub fn list(dir: &Path) -> Result<Vec<CatalogEntry>, LocalError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LocalError::io(dir, e)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_gguf_name(p) && p.is_file())
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| {
            let info = read_info(&p);
            (p, info)
        })
        .collect())
}

/// The model name of a file: its stem.
pub fn model_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_gguf_name(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// The file `model` names: a path to a `.gguf`, or the stem of one in `dir`. Empty or
/// `default` picks the first model of the folder.
pub fn resolve(dir: &Path, model: &str) -> Result<PathBuf, LocalError> {
    let model = model.trim();
    let as_path = PathBuf::from(model);
    if is_gguf_name(&as_path) || model.contains(std::path::MAIN_SEPARATOR) {
        return if as_path.is_file() {
            Ok(as_path)
        } else {
            Err(LocalError::NotFound {
                name: model.to_string(),
                hint: "no such file".into(),
            })
        };
    }
    let candidates = list(dir)?;
    if model.is_empty() || model == "default" {
        return candidates.into_iter().next().map(|(p, _)| p).ok_or_else(|| {
            LocalError::NotFound {
                name: model.to_string(),
                hint: format!(
                    "the folder {} holds no .gguf file. Download one with `rustbot models pull URL`, or pass --model PATH.gguf",
                    dir.display()
                ),
            }
        });
    }
    let exact = dir.join(format!("{model}.gguf"));
    if exact.is_file() {
        return Ok(exact);
    }
    let found = candidates
        .iter()
        .find(|(p, _)| model_name(p).eq_ignore_ascii_case(model))
        .map(|(p, _)| p.clone());
    found.ok_or_else(|| {
        let names: Vec<String> = candidates.iter().map(|(p, _)| model_name(p)).collect();
        LocalError::NotFound {
            name: model.to_string(),
            hint: if names.is_empty() {
                format!(
                    "the folder {} holds no .gguf file; download one with `rustbot models pull URL`",
                    dir.display()
                )
            } else {
                format!("{} holds {}", dir.display(), names.join(", "))
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_files_in_the_folder_and_paths_to_themselves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b-model.gguf"), b"GGUF").unwrap();
        std::fs::write(dir.path().join("a-model.gguf"), b"GGUF").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert_eq!(
            resolve(dir.path(), "b-model").unwrap(),
            dir.path().join("b-model.gguf")
        );
        assert_eq!(
            resolve(dir.path(), "").unwrap(),
            dir.path().join("a-model.gguf")
        );
        let full = dir.path().join("a-model.gguf");
        assert_eq!(resolve(dir.path(), full.to_str().unwrap()).unwrap(), full);
        let err = resolve(dir.path(), "c-model").unwrap_err().to_string();
        assert!(err.contains("a-model, b-model"), "{err}");
        assert_eq!(list(dir.path()).unwrap().len(), 2);
        assert!(list(&dir.path().join("missing")).unwrap().is_empty());
    }
}
