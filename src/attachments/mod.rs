//! Files the user attaches to a message: text-like files go into the message as a fenced
//! block headed by the file name, PDFs as their extracted text with page markers, images as
//! image parts (byte for byte when small enough, else downscaled). Anything else is refused
//! with one sentence before anything is sent.

mod blocks;
mod image_part;
mod pdf;

use std::path::Path;

use crate::config::attachments::AttachmentSettings;
use crate::llm::ImagePart;

pub use blocks::{TextBlock, fenced, message_text, split_text_blocks};
pub use image_part::prepare_image;
pub use pdf::pdf_text;

/// Images larger than this are re-encoded even when within `max_image_px` (providers cap
/// image payloads at about 5 MB).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// A file ready to go with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Attachment {
    /// Text to put into the message (a text file, or a PDF's text).
    Text {
        /// The file's name.
        name: String,
        /// The fenced block as it goes into the message.
        block: String,
    },
    /// An image part.
    Image(ImagePart),
}

/// Why a file cannot be attached; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// Missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The path given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Over `[attachments] max_file_mb`.
    #[error("{path} is {size_mb:.1} MB, over the {limit_mb} MB limit ([attachments] max_file_mb)")]
    TooBig {
        /// The path given.
        path: String,
        /// Its size.
        size_mb: f64,
        /// The limit.
        limit_mb: u64,
    },
    /// Neither text, PDF nor a supported image.
    #[error(
        "{path} is a binary file that is neither text, PDF nor a PNG, JPEG, WebP or GIF image, so it cannot be attached"
    )]
    Binary {
        /// The path given.
        path: String,
    },
    /// A PDF or image that could not be read.
    #[error("{path}: {detail}")]
    Damaged {
        /// The path given.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

/// Reads and prepares one file.
pub fn load(path: &Path, settings: &AttachmentSettings) -> Result<Attachment, AttachError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| AttachError::Unreadable {
        path: shown.clone(),
        source,
    })?;
    check_size(&shown, meta.len(), settings)?;
    let bytes = std::fs::read(path).map_err(|source| AttachError::Unreadable {
        path: shown.clone(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    from_bytes(&name, bytes, settings).map_err(|e| match e {
        AttachError::Binary { .. } => AttachError::Binary { path: shown },
        AttachError::Damaged { detail, .. } => AttachError::Damaged {
            path: shown,
            detail,
        },
        other => other,
    })
}

/// Refuses a file of `size` bytes over `[attachments] max_file_mb`, before it is read.
pub fn check_size(path: &str, size: u64, settings: &AttachmentSettings) -> Result<(), AttachError> {
    if size > settings.max_file_mb.saturating_mul(1024 * 1024) {
        return Err(AttachError::TooBig {
            path: path.to_string(),
            size_mb: size as f64 / (1024.0 * 1024.0),
            limit_mb: settings.max_file_mb,
        });
    }
    Ok(())
}

/// Prepares a file's bytes (the name heads a text block and names an image).
pub fn from_bytes(
    name: &str,
    bytes: Vec<u8>,
    settings: &AttachmentSettings,
) -> Result<Attachment, AttachError> {
    if let Some(media_type) = image_media_type(&bytes) {
        let prepared =
            prepare_image(bytes, media_type, settings.max_image_px).map_err(|detail| {
                AttachError::Damaged {
                    path: name.to_string(),
                    detail,
                }
            })?;
        return Ok(Attachment::Image(ImagePart::new(
            name,
            prepared.0,
            &prepared.1,
        )));
    }
    if bytes.starts_with(b"%PDF-") {
        let text = pdf::pdf_text(&bytes).map_err(|detail| AttachError::Damaged {
            path: name.to_string(),
            detail,
        })?;
        return Ok(Attachment::Text {
            name: name.to_string(),
            block: fenced(name, &text),
        });
    }
    if bytes.contains(&0) {
        return Err(AttachError::Binary {
            path: name.to_string(),
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Attachment::Text {
            name: name.to_string(),
            block: fenced(name, &text),
        }),
        Err(_) => Err(AttachError::Binary {
            path: name.to_string(),
        }),
    }
}

/// The media type of a supported image, by its magic bytes.
pub fn image_media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

/// The image parts among `attachments`.
pub fn images(attachments: &[Attachment]) -> Vec<ImagePart> {
    attachments
        .iter()
        .filter_map(|a| match a {
            Attachment::Image(image) => Some(image.clone()),
            Attachment::Text { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AttachmentSettings {
        AttachmentSettings::default()
    }

    #[test]
    fn text_goes_in_a_fence_that_the_file_cannot_close() {
        let a = from_bytes("notes.md", b"a ``` b\n".to_vec(), &settings()).unwrap();
        let Attachment::Text { block, .. } = a else {
            panic!("{a:?}")
        };
        assert_eq!(block, "notes.md\n````\na ``` b\n````");
    }

    #[test]
    fn binary_and_invalid_utf8_are_refused() {
        assert!(matches!(
            from_bytes("x.bin", vec![1, 0, 2], &settings()),
            Err(AttachError::Binary { .. })
        ));
        assert!(matches!(
            from_bytes("x.txt", vec![0xff, 0xfe, 0x41], &settings()),
            Err(AttachError::Binary { .. })
        ));
    }

    #[test]
    fn images_are_known_by_their_magic_bytes() {
        assert_eq!(
            image_media_type(b"\x89PNG\r\n\x1a\nrest"),
            Some("image/png")
        );
        assert_eq!(
            image_media_type(&[0xff, 0xd8, 0xff, 0xe0]),
            Some("image/jpeg")
        );
        assert_eq!(
            image_media_type(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(image_media_type(b"GIF89a..."), Some("image/gif"));
        assert_eq!(image_media_type(b"hello"), None);
    }

    #[test]
    fn a_missing_or_too_big_file_says_so() {
        let e = load(Path::new("/nonexistent/file.txt"), &settings()).unwrap_err();
        assert!(
            e.to_string().contains("cannot read /nonexistent/file.txt"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.txt");
        std::fs::write(&big, vec![b'a'; 2 * 1024 * 1024 + 1]).unwrap();
        let small = AttachmentSettings {
            max_file_mb: 2,
            ..settings()
        };
        let e = load(&big, &small).unwrap_err();
        assert!(e.to_string().contains("over the 2 MB limit"), "{e}");
    }
}
