//! `conversations export --output FILE`: the export written to a file, with a Markdown
//! export's attached images in a folder beside it. Each file is written under a temporary
//! name and renamed, so a full disk leaves no half-written export under the final name.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::conversations::ExportFormat;
use crate::store::Store;

/// Writes conversation `id` to `path` in `format`; says on stderr what was written.
pub fn write(store: &Store, id: &str, format: ExportFormat, path: &Path) -> anyhow::Result<()> {
    match format {
        ExportFormat::Json => {
            write_atomic(path, store.export_json(id)?.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        ExportFormat::Md => {
            let dir_name = files_dir_name(path);
            let export = store.export_markdown_with_files(id, &dir_name)?;
            if !export.files.is_empty() {
                let dir = path.with_file_name(&dir_name);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("could not create {}", dir.display()))?;
                for file in &export.files {
                    write_atomic(&dir.join(&file.name), &file.data)?;
                }
            }
            write_atomic(path, export.text.as_bytes())?;
            match export.files.len() {
                0 => eprintln!("wrote {}", path.display()),
                n => eprintln!(
                    "wrote {} and {n} attached file(s) in {}",
                    path.display(),
                    path.with_file_name(&dir_name).display()
                ),
            }
        }
    }
    Ok(())
}

/// `notes_files` for `notes.md`: the folder beside the file that holds its attachments.
fn files_dir_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "export".into());
    format!("{stem}_files")
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut partial: PathBuf = path.to_path_buf();
    partial.as_mut_os_string().push(".part");
    let result = std::fs::write(&partial, bytes).and_then(|()| std::fs::rename(&partial, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("could not write {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_folder_is_named_after_the_export() {
        assert_eq!(
            files_dir_name(Path::new("/tmp/trip notes.md")),
            "trip notes_files"
        );
        assert_eq!(files_dir_name(Path::new("out")), "out_files");
    }
}
