//! `rustbot models pull`: downloads a GGUF into the models folder as `NAME.part`, resuming an
//! interrupted download with an HTTP Range request, checks the GGUF header and the sha256 when
//! given, then renames it to `NAME.gguf`. Nothing ever sits under the final name half-written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::core::error_chain;
use crate::local::LocalError;
use crate::local::gguf::{GGUF_MAGIC, read_info};

/// What to download.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The file's URL (Hugging Face `resolve` URLs work as they are).
    pub url: String,
    /// The model name (default: the URL's file stem).
    pub name: Option<String>,
    /// The expected sha256, in hex.
    pub sha256: Option<String>,
    /// The models folder.
    pub dir: PathBuf,
}

/// Download progress: bytes on disk so far, and the total when the server said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file present (including a resumed part).
    pub done_bytes: u64,
    /// The file's size, when known.
    pub total_bytes: Option<u64>,
}

/// The model name a URL gives: its last path segment without query and `.gguf`.
pub fn name_from_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let stem = last
        .strip_suffix(".gguf")
        .or_else(|| last.strip_suffix(".GGUF"))
        .unwrap_or(last);
    valid_name(stem).then(|| stem.to_string())
}

/// Whether `name` can be a file stem in the models folder.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with('.')
}

fn dl(msg: impl Into<String>) -> LocalError {
    LocalError::Download(msg.into())
}

/// Downloads `req`; `progress` is called as bytes arrive. Returns the final path.
pub async fn pull(
    req: &PullRequest,
    mut progress: impl FnMut(Progress),
) -> Result<PathBuf, LocalError> {
    let name = match &req.name {
        Some(n) if valid_name(n) => n.clone(),
        Some(n) => {
            return Err(dl(format!(
                "`{n}` cannot be a model name: use letters, digits, dots, dashes"
            )));
        }
        None => name_from_url(&req.url).ok_or_else(|| {
            dl(format!(
                "{} does not end in a file name: pass --name NAME",
                req.url
            ))
        })?,
    };
    let final_path = req.dir.join(format!("{name}.gguf"));
    if final_path.exists() {
        return Err(dl(format!(
            "{} already exists: remove it first with `rustbot models rm {name}`",
            final_path.display()
        )));
    }
    tokio::fs::create_dir_all(&req.dir)
        .await
        .map_err(|e| LocalError::io(&req.dir, e))?;
    let part = req.dir.join(format!("{name}.part"));
    download(&req.url, &part, &mut progress).await?;
    let checked = check_file(&part, req.sha256.as_deref()).await;
    if let Err(e) = checked {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    tokio::fs::rename(&part, &final_path)
        .await
        .map_err(|e| LocalError::io(&final_path, e))?;
    Ok(final_path)
}

/// Fetches `url` into `part`, continuing from its current length.
async fn download(
    url: &str,
    part: &Path,
    progress: &mut impl FnMut(Progress),
) -> Result<(), LocalError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("rustbot/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| dl(format!("could not set up the HTTP client: {e}")))?;
    let mut start = tokio::fs::metadata(part).await.map_or(0, |m| m.len());
    let mut request = client.get(url);
    if start > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={start}-"));
    }
    let resp = request
        .send()
        .await
        .map_err(|e| dl(format!("could not download {url}: {}", error_chain(&e))))?;
    let status = resp.status();
    if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE && start > 0 {
        // The part is as long as the file (or longer): check it as it is.
        return Ok(());
    }
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(dl(format!("{url} was not found (404): check the URL")));
    }
    if !status.is_success() {
        return Err(dl(format!("the server answered {status} for {url}")));
    }
    let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT;
    if !resumed {
        start = 0; // the server sent the whole file
    }
    let total = resp.content_length().map(|n| n + start);
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .await
        .map_err(|e| LocalError::io(part, e))?;
    let mut done = start;
    progress(Progress {
        done_bytes: done,
        total_bytes: total,
    });
    let mut body = resp.bytes_stream();
    let broke = |done: u64| {
        dl(format!(
            "the connection broke after {done}{} bytes; run the same command again to resume",
            total.map_or_else(String::new, |t| format!(" of {t}"))
        ))
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| broke(done))?;
        if done == 0 && chunk.len() >= 4 && &chunk[..4] != GGUF_MAGIC {
            drop(file);
            let _ = tokio::fs::remove_file(part).await;
            return Err(dl(format!(
                "{url} is not a GGUF file (it does not start with `GGUF`)"
            )));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| write_error(part, e))?;
        done += chunk.len() as u64;
        progress(Progress {
            done_bytes: done,
            total_bytes: total,
        });
    }
    file.flush().await.map_err(|e| write_error(part, e))?;
    file.sync_all().await.map_err(|e| write_error(part, e))?;
    if total.is_some_and(|t| done < t) {
        return Err(broke(done));
    }
    Ok(())
}

fn write_error(part: &Path, e: std::io::Error) -> LocalError {
    if e.raw_os_error() == Some(28) {
        dl(format!(
            "the disk is full while writing {}: free some space and run the same command again to resume",
            part.display()
        ))
    } else {
        LocalError::io(part, e)
    }
}

/// The GGUF header and, when `sha256` is given, the checksum of the finished file.
async fn check_file(part: &Path, sha256: Option<&str>) -> Result<(), LocalError> {
    let path = part.to_path_buf();
    let expected = sha256.map(|s| s.trim().to_ascii_lowercase());
    tokio::task::spawn_blocking(move || {
        read_info(&path).map_err(|e| match e {
            LocalError::NotGguf { reason, .. } => {
                dl(format!("the download is not a GGUF model file: {reason}"))
            }
            other => other,
        })?;
        if let Some(expected) = expected {
            let actual = sha256_file(&path)?;
            if actual != expected {
                return Err(dl(format!(
                    "the download's sha256 is {actual}, not the expected {expected}; the file was deleted"
                )));
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| dl(format!("the check stopped: {e}")))?
}

/// The hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, LocalError> {
    let mut file = std::fs::File::open(path).map_err(|e| LocalError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| LocalError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Removes the model `name` (and a leftover `name.part`) from `dir`.
pub fn remove(dir: &Path, name: &str) -> Result<PathBuf, LocalError> {
    if !valid_name(name) {
        return Err(LocalError::NotFound {
            name: name.into(),
            hint: "give the name `rustbot models --provider local` lists".into(),
        });
    }
    let path = dir.join(format!("{name}.gguf"));
    let _ = std::fs::remove_file(dir.join(format!("{name}.part")));
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LocalError::NotFound {
            name: name.into(),
            hint: format!("{} does not exist", path.display()),
        }),
        Err(e) => Err(LocalError::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_url_file_stem() {
        assert_eq!(
            name_from_url(
                "https://huggingface.co/Qwen/R/resolve/main/qwen2.5-0.5b-q4_k_m.gguf?download=true"
            )
            .as_deref(),
            Some("qwen2.5-0.5b-q4_k_m")
        );
        assert_eq!(name_from_url("https://x/").as_deref(), Some("x"));
        assert!(!valid_name("../evil"));
        assert!(!valid_name(".hidden"));
    }
}
