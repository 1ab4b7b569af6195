//! Rows of `COPY (...) TO STDOUT (FORMAT binary)`, read one at a time.
//! Only the current row is held, so memory stays the same whatever the
//! table's size. Binary format: values arrive as the server's bytes (no
//! escaping to undo), and a field's length says where it ends.

use std::ops::Range;

use anyhow::{bail, Context, Result};
use futures::{Stream, StreamExt};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Rows read one at a time, each field as the server's bytes.
pub(super) trait Rows {
    /// Moves to the next row; false after the last.
    async fn advance(&mut self) -> Result<bool>;
    /// The current row's field; None for NULL.
    fn field(&self, index: usize) -> Option<&[u8]>;
}

pub struct CopyRows<S> {
    messages: S,
    buffer: Vec<u8>,
    /// Where the next unread byte of `buffer` is.
    read: usize,
    fields: Vec<Option<Range<usize>>>,
    started: bool,
}

impl<S, B> CopyRows<S>
where
    S: Stream<Item = Result<B, sqlx::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    pub fn new(messages: S) -> Self {
        CopyRows {
            messages,
            buffer: Vec::new(),
            read: 0,
            fields: Vec::new(),
            started: false,
        }
    }

    async fn skip_header(&mut self) -> Result<()> {
        self.fill(SIGNATURE.len() + 8).await?;
        if &self.buffer[..SIGNATURE.len()] != SIGNATURE {
            bail!("the server's COPY output is not in binary format");
        }
        self.read = SIGNATURE.len() + 4; // signature, flags
        let extension = u32::from_be_bytes(self.take::<4>().await?) as usize;
        self.fill(extension).await?;
        self.read += extension;
        Ok(())
    }

    async fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.fill(N).await?;
        let bytes: [u8; N] = self.buffer[self.read..self.read + N].try_into().expect("N bytes");
        self.read += N;
        Ok(bytes)
    }

    /// Reads messages until `n` unread bytes are buffered.
    async fn fill(&mut self, n: usize) -> Result<()> {
        while self.buffer.len() - self.read < n {
            match self.messages.next().await {
                Some(message) => self.buffer.extend_from_slice(message.context("reading COPY output")?.as_ref()),
                None => bail!("COPY output ended in the middle of a row"),
            }
        }
        Ok(())
    }
}

impl<S, B> Rows for CopyRows<S>
where
    S: Stream<Item = Result<B, sqlx::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    /// Moves to the next row; false after the last.
    async fn advance(&mut self) -> Result<bool> {
        if !self.started {
            self.skip_header().await?;
            self.started = true;
        }
        // Rows before this one are done with: keep the buffer to one row.
        self.buffer.drain(..self.read);
        self.read = 0;
        let count = i16::from_be_bytes(self.take::<2>().await?);
        if count == -1 {
            // Read on to the end: the server may still report an error.
            while let Some(message) = self.messages.next().await {
                message.context("finishing COPY")?;
            }
            return Ok(false);
        }
        self.fields.clear();
        for _ in 0..count {
            let length = i32::from_be_bytes(self.take::<4>().await?);
            let field = if length < 0 {
                None
            } else {
                let start = self.read;
                self.fill(length as usize).await?;
                self.read += length as usize;
                Some(start..self.read)
            };
            self.fields.push(field);
        }
        Ok(true)
    }

    /// The current row's field; None for NULL.
    fn field(&self, index: usize) -> Option<&[u8]> {
        self.fields.get(index)?.clone().map(|range| &self.buffer[range])
    }
}

/// Two streams read one after the other: the key ranges of one table's
/// rows, each grouped and sorted on its own connection.
pub(super) struct Chained<A, B> {
    first: A,
    second: B,
    in_second: bool,
}

impl<A: Rows, B: Rows> Chained<A, B> {
    pub fn new(first: A, second: B) -> Self {
        Chained {
            first,
            second,
            in_second: false,
        }
    }
}

impl<A: Rows, B: Rows> Rows for Chained<A, B> {
    async fn advance(&mut self) -> Result<bool> {
        if !self.in_second {
            if self.first.advance().await? {
                return Ok(true);
            }
            self.in_second = true;
        }
        self.second.advance().await
    }

    fn field(&self, index: usize) -> Option<&[u8]> {
        if self.in_second {
            self.second.field(index)
        } else {
            self.first.field(index)
        }
    }
}
