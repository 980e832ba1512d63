//! Native-messaging framing: a u32 length in native byte order, then that many bytes of UTF-8
//! JSON. Browsers send at most 4 GB in theory and 64 MB in practice; we accept up to
//! `MAX_INCOMING` and send at most `MAX_OUTGOING` (Chrome's limit for host messages is 1 MB).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest message we send.
pub const MAX_OUTGOING: usize = 1024 * 1024;
/// Largest message we accept.
pub const MAX_INCOMING: usize = 4 * 1024 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The input ended cleanly between frames.
    #[error("the input ended")]
    Eof,
    /// The input ended inside a frame.
    #[error("the input ended inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes read.
        got: usize,
        /// Bytes announced.
        expected: usize,
    },
    /// The length is over the limit (the rest cannot be resynchronised).
    #[error("a frame of {0} bytes is over the limit of {MAX_INCOMING} bytes")]
    TooLarge(usize),
    /// Reading failed.
    #[error("could not read the input: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame's bytes.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = reader.read(&mut len[got..]).await?;
        if n == 0 {
            return Err(if got == 0 {
                FrameError::Eof
            } else {
                FrameError::Truncated { got, expected: 4 }
            });
        }
        got += n;
    }
    let expected = u32::from_ne_bytes(len) as usize;
    if expected > MAX_INCOMING {
        return Err(FrameError::TooLarge(expected));
    }
    let mut body = vec![0u8; expected];
    let mut got = 0;
    while got < expected {
        let n = reader.read(&mut body[got..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated { got, expected });
        }
        got += n;
    }
    Ok(body)
}

/// Writes one frame (the caller keeps it under `MAX_OUTGOING`) and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    json: &[u8],
) -> std::io::Result<()> {
    let len = u32::try_from(json.len())
        .map_err(|_| std::io::Error::other("a frame over 4 GB cannot be sent"))?;
    writer.write_all(&len.to_ne_bytes()).await?;
    writer.write_all(json).await?;
    writer.flush().await
}

/// Splits `text` into pieces of at most `max_bytes` bytes, never inside a UTF-8 character.
pub fn split_text(text: &str, max_bytes: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let mut cut = max_bytes.max(4);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        pieces.push(head);
        rest = tail;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_round_trips_and_a_short_one_is_truncated() {
        let mut buf = Vec::new();
        write_frame(&mut buf, br#"{"a":1}"#).await.unwrap();
        let mut reader = buf.as_slice();
        assert_eq!(read_frame(&mut reader).await.unwrap(), br#"{"a":1}"#);
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(FrameError::Eof)
        ));
        let mut short = &buf[..6];
        assert!(matches!(
            read_frame(&mut short).await,
            Err(FrameError::Truncated {
                got: 2,
                expected: 7
            })
        ));
    }

    #[test]
    fn text_is_split_on_character_boundaries() {
        let text = "é".repeat(10);
        let pieces = split_text(&text, 5);
        assert!(pieces.iter().all(|p| p.len() <= 5));
        assert_eq!(pieces.concat(), text);
        assert_eq!(split_text("", 5), vec![""]);
    }
}
