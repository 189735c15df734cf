//! Request bodies as the front reads them before calling the app: a
//! `Content-Length` body or a chunked one (RFC 9112 §7.1), whole and
//! within the limit. The decoder works on the connection's read buffer as
//! bytes arrive and never holds more than the limit: an oversized chunk is
//! refused when its size line arrives, not after it has been read. It can
//! also pause once a body grows past a checkpoint, so the connection can
//! decide whether to read on before the body takes more memory.

use bytes::{Buf, Bytes, BytesMut};
use httparse::Status;

use super::head::MAX_FIELD_LINE;
use super::reject::{Reason, Rejection};

/// The longest chunk-size line (size and extensions) read before refusing.
const MAX_SIZE_LINE: usize = 1024;

/// Where a chunked body's decoding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a chunk-size line.
    Size,
    /// Inside a chunk, with this many bytes still to come.
    Data(u64),
    /// At the CRLF that ends a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until a blank one.
    Trailers,
}

/// What a call to [`Chunked::decode`] came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// The whole body.
    Body(Bytes),
    /// More bytes are needed.
    More,
    /// A chunk's size line takes the body past the checkpoint: nothing of
    /// that chunk is read yet, and the next call goes on with it.
    Past,
}

/// A chunked body being decoded.
pub struct Chunked {
    state: State,
    body: BytesMut,
    limit: usize,
    /// The size past which decoding pauses once (see [`Decoded::Past`]).
    checkpoint: Option<usize>,
    trailer_bytes: usize,
}

impl Chunked {
    pub fn new(limit: usize) -> Chunked {
        Chunked {
            state: State::Size,
            body: BytesMut::new(),
            limit,
            checkpoint: None,
            trailer_bytes: 0,
        }
    }

    /// Pauses decoding once, when the body would grow past `size` bytes.
    pub fn pause_past(&mut self, size: usize) {
        self.checkpoint = Some(size);
    }

    /// The most body bytes it accepts.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes what it can from `read`: the whole body once its last chunk
    /// and trailers are in.
    pub fn decode(&mut self, read: &mut BytesMut) -> Result<Decoded, Rejection> {
        loop {
            match self.state {
                State::Size => match httparse::parse_chunk_size(read) {
                    Ok(Status::Complete((len, size))) => {
                        read.advance(len);
                        if size == 0 {
                            self.state = State::Trailers;
                            continue;
                        }
                        let total = (self.body.len() as u64).saturating_add(size);
                        if total > self.limit as u64 {
                            return Err(too_large(self.limit));
                        }
                        self.state = State::Data(size);
                        if self.checkpoint.is_some_and(|at| total > at as u64) {
                            self.checkpoint = None;
                            return Ok(Decoded::Past);
                        }
                    }
                    Ok(Status::Partial) if read.len() <= MAX_SIZE_LINE => {
                        return Ok(Decoded::More);
                    }
                    Ok(Status::Partial) | Err(_) => {
                        return Err(Rejection::new(Reason::Chunked, "invalid chunk size line"));
                    }
                },
                State::Data(left) => {
                    if read.is_empty() {
                        return Ok(Decoded::More);
                    }
                    // Room for the rest of the chunk at once, not by
                    // doubling (which could take twice the limit); a no-op
                    // once it is there.
                    let left_now = usize::try_from(left).unwrap_or(self.limit);
                    self.body.reserve(left_now);
                    let take =
                        usize::try_from(left).map_or(read.len(), |left| left.min(read.len()));
                    self.body.extend_from_slice(&read[..take]);
                    read.advance(take);
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if read.len() < 2 {
                        return Ok(Decoded::More);
                    }
                    if &read[..2] != b"\r\n" {
                        return Err(Rejection::new(
                            Reason::Chunked,
                            "chunk data is not followed by CRLF",
                        ));
                    }
                    read.advance(2);
                    self.state = State::Size;
                }
                State::Trailers => {
                    let Some(end) = read.iter().position(|&b| b == b'\n') else {
                        return self.more_trailers(read.len());
                    };
                    let line = &read[..end];
                    let Some(line) = line.strip_suffix(b"\r") else {
                        return Err(Rejection::new(
                            Reason::Chunked,
                            "a trailer line does not end in CRLF",
                        ));
                    };
                    if line.is_empty() {
                        read.advance(end + 1);
                        return Ok(Decoded::Body(std::mem::take(&mut self.body).freeze()));
                    }
                    // Trailer fields are read and dropped: nothing in keel
                    // uses them, and RFC 9110 §6.5.1 lets a recipient
                    // discard them.
                    self.trailer_bytes += end + 1;
                    read.advance(end + 1);
                    self.more_trailers(0)?;
                }
            }
        }
    }

    fn more_trailers(&self, pending: usize) -> Result<Decoded, Rejection> {
        if self.trailer_bytes + pending > MAX_FIELD_LINE {
            return Err(Rejection::new(
                Reason::FieldTooLarge,
                "the chunked body's trailer section is over 8 KiB",
            ));
        }
        Ok(Decoded::More)
    }
}

/// The rejection for a body over `limit`.
pub fn too_large(limit: usize) -> Rejection {
    Rejection::new(
        Reason::BodyTooLarge,
        &format!("request body exceeds the limit of {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(
        raw: &[u8],
        piece: usize,
        limit: usize,
    ) -> Result<(Bytes, usize), Rejection> {
        let mut decoder = Chunked::new(limit);
        let mut read = BytesMut::new();
        for part in raw.chunks(piece) {
            read.extend_from_slice(part);
            if let Decoded::Body(body) = decoder.decode(&mut read)? {
                return Ok((body, read.len()));
            }
        }
        panic!("incomplete: {raw:?}");
    }

    #[test]
    fn a_chunked_body_decodes_whole_in_any_pieces() {
        let raw = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: a\r\n\r\nGET /";
        for piece in [1, 2, 3, 7, raw.len()] {
            let (body, left) = decode_in_pieces(raw, piece, 100).expect("valid");
            assert_eq!(&body[..], b"Wikipedia", "pieces of {piece}");
            assert!(left <= b"GET /".len(), "only the next request is left");
        }
    }

    #[test]
    fn broken_chunks_are_refused() {
        for raw in [
            &b"zz\r\n"[..],
            b"ffffffffffffffffff\r\n",
            b"4\r\nWikiXX",
            b"4\nWiki\r\n",
            b"0\r\nX: a\n",
        ] {
            let mut read = BytesMut::from(raw);
            let mut decoder = Chunked::new(100);
            let err = decoder.decode(&mut read).expect_err("invalid");
            assert_eq!(err.reason, Reason::Chunked, "{raw:?}");
        }
    }

    #[test]
    fn a_chunk_over_the_limit_is_refused_from_its_size_line() {
        let mut read = BytesMut::from(&b"5\r\nhello\r\n6\r\n"[..]);
        let err = Chunked::new(10).decode(&mut read).expect_err("too large");
        assert_eq!(err.reason, Reason::BodyTooLarge);
        assert!(err.detail.contains("10 bytes"), "{}", err.detail);
    }

    #[test]
    fn decoding_pauses_once_at_the_chunk_that_passes_the_checkpoint() {
        let mut decoder = Chunked::new(100);
        decoder.pause_past(6);
        let mut read = BytesMut::from(&b"4\r\nWiki\r\n5\r\npedia\r\n6\r\n"[..]);
        assert_eq!(decoder.decode(&mut read).expect("valid"), Decoded::Past);
        assert_eq!(&read[..], b"pedia\r\n6\r\n", "that chunk is not read yet");
        assert_eq!(
            decoder.decode(&mut read).expect("valid"),
            Decoded::More,
            "only once"
        );
        read.extend_from_slice(b"Bodies\r\n0\r\n\r\n");
        assert_eq!(
            decoder.decode(&mut read).expect("valid"),
            Decoded::Body(Bytes::from_static(b"WikipediaBodies"))
        );
    }

    #[test]
    fn endless_trailers_are_refused() {
        let mut raw = b"0\r\n".to_vec();
        for _ in 0..1000 {
            raw.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaa\r\n");
        }
        let mut read = BytesMut::from(&raw[..]);
        let err = Chunked::new(10).decode(&mut read).expect_err("too large");
        assert_eq!(err.reason, Reason::FieldTooLarge);
    }
}
