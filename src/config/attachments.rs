//! The `[attachments]` table of config.toml: how big a file may be, and how large an image
//! is sent as it is.

use serde::{Deserialize, Serialize};

/// `[attachments]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentSettings {
    /// Largest file that may be attached, in MB (MiB).
    pub max_file_mb: u64,
    /// Longest side, in pixels, of an image sent byte for byte; larger ones are downscaled.
    pub max_image_px: u32,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        Self {
            max_file_mb: 20,
            max_image_px: 2048,
        }
    }
}
