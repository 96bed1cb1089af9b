//! The manifest's bytes as the parsers read them: buffered, counted against
//! the size limit, with the line and column of the next byte for messages.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::ManifestError;

/// The manifest's bytes, counted against `max_bytes`, with the line and
/// column of the next one.
pub(super) struct Source<R> {
    pub(super) reader: BufReader<R>,
    pub(super) consumed: u64,
    pub(super) max_bytes: u64,
    pub(super) line: u64,
    pub(super) column: u64,
}

pub(super) enum ReadError {
    Io(std::io::Error),
    TooLarge(u64),
}

impl From<ReadError> for ManifestError {
    fn from(e: ReadError) -> ManifestError {
        match e {
            ReadError::Io(e) => ManifestError::new(format!("could not read the manifest: {e}")),
            ReadError::TooLarge(max) => ManifestError::new(format!(
                "the manifest is larger than {max} bytes, the limit (max_bytes)"
            )),
        }
    }
}

impl<R: AsyncRead + Unpin> Source<R> {
    /// The buffered bytes, reading more when none are; empty at the end.
    pub(super) async fn fill(&mut self) -> Result<&[u8], ReadError> {
        let allowed = self.max_bytes.saturating_sub(self.consumed);
        let max_bytes = self.max_bytes;
        let buf = self.reader.fill_buf().await.map_err(ReadError::Io)?;
        if buf.is_empty() {
            return Ok(buf);
        }
        if allowed == 0 {
            return Err(ReadError::TooLarge(max_bytes));
        }
        let n = usize::try_from(allowed).map_or(buf.len(), |allowed| allowed.min(buf.len()));
        Ok(&buf[..n])
    }

    /// Marks the first `n` bytes of the last `fill` read.
    pub(super) fn consume(&mut self, n: usize) {
        for &b in &self.reader.buffer()[..n] {
            if b == b'\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.reader.consume(n);
        self.consumed += n as u64;
    }

    pub(super) async fn peek(&mut self) -> Result<Option<u8>, ReadError> {
        Ok(self.fill().await?.first().copied())
    }

    pub(super) async fn skip_whitespace(&mut self) -> Result<(), ReadError> {
        loop {
            let chunk = self.fill().await?;
            let blanks = chunk
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(chunk.len());
            let done = blanks < chunk.len() || chunk.is_empty();
            self.consume(blanks);
            if done {
                return Ok(());
            }
        }
    }

    pub(super) fn position(&self) -> (u64, u64) {
        (self.line, self.column)
    }
}
