//! The load generator's HTTP/1.1 client connection: one request in flight, written with one
//! `write_all`, the answer read into a buffer the connection keeps (bodies delimited by
//! Content-Length, chunked, or the end of the connection).
//!
//! Why not hyper's client: its connection runs as a second task fed through a channel, so every
//! request cost the generator two extra task wake-ups and the allocations of a `Request`; on two
//! cores shared with the server under test, the generator's own CPU is taken from the server.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most headers an answer may carry.
const MAX_HEADERS: usize = 32;
/// Largest answer accepted (the emulator's largest answers are a few hundred KiB).
const MAX_ANSWER: usize = 16 << 20;

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
    /// The request being written.
    out: Vec<u8>,
    /// The previous answer's length in `buf`, dropped before the next request.
    consumed: usize,
}

/// An answer: status, the `X-Amzn-ErrorType` header, the body, and whether the server closes
/// the connection after it.
#[derive(Debug)]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// `X-Amzn-ErrorType`, if present.
    pub error_type: Option<String>,
    /// The body (decoded if chunked).
    pub body: &'a [u8],
    /// Whether the connection cannot carry another request.
    pub close: bool,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Conn {
    /// Connects (TCP_NODELAY set).
    pub async fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(8192),
            out: Vec::with_capacity(2048),
            consumed: 0,
        })
    }

    /// Sends `POST /` with `headers` (name, value) and `body`, and reads the whole answer.
    pub async fn post(&mut self, headers: &[(&str, &str)], body: &[u8]) -> io::Result<Answer<'_>> {
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        self.out.clear();
        self.out.extend_from_slice(b"POST / HTTP/1.1\r\n");
        for (k, v) in headers {
            self.out.extend_from_slice(k.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(v.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b"content-length: ");
        self.out
            .extend_from_slice(body.len().to_string().as_bytes());
        self.out.extend_from_slice(b"\r\n\r\n");
        self.out.extend_from_slice(body);
        self.stream.write_all(&self.out).await?;
        self.read_answer().await
    }

    /// Reads more bytes into `buf`; false at the end of the connection.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.buf.len() >= MAX_ANSWER {
            return Err(bad("answer too large"));
        }
        let len = self.buf.len();
        self.buf.resize(len + 8192, 0);
        let n = self.stream.read(&mut self.buf[len..]).await;
        self.buf.truncate(len + *n.as_ref().unwrap_or(&0));
        Ok(n? > 0)
    }

    async fn read_answer(&mut self) -> io::Result<Answer<'_>> {
        // the head
        let (head_len, status, error_type, length, chunked, mut close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut error_type = None;
                    let mut length = None;
                    let mut chunked = false;
                    // HTTP/1.0 closes unless told otherwise
                    let mut close = resp.version == Some(0);
                    for h in resp.headers.iter() {
                        let v = std::str::from_utf8(h.value).unwrap_or("").trim();
                        if h.name.eq_ignore_ascii_case("content-length") {
                            length = Some(v.parse::<usize>().map_err(|_| bad("content-length"))?);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = v.to_ascii_lowercase().contains("chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            let v = v.to_ascii_lowercase();
                            close = v.contains("close") || (close && !v.contains("keep-alive"));
                        } else if h.name.eq_ignore_ascii_case("x-amzn-errortype") {
                            error_type = Some(v.to_string());
                        }
                    }
                    break (n, status, error_type, length, chunked, close);
                }
                Ok(httparse::Status::Partial) => {
                    if !self.fill().await? {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(_) => return Err(bad("malformed answer head")),
            }
        };
        // the body: [start, end) of `buf`, `consumed` bytes in all
        let (start, end) = if chunked {
            self.dechunk(head_len).await?
        } else if let Some(n) = length {
            while self.buf.len() < head_len + n {
                if !self.fill().await? {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            self.consumed = head_len + n;
            (head_len, head_len + n)
        } else {
            // delimited by the end of the connection
            while self.fill().await? {}
            close = true;
            self.consumed = self.buf.len();
            (head_len, self.buf.len())
        };
        Ok(Answer {
            status,
            error_type,
            body: &self.buf[start..end],
            close,
        })
    }

    /// Decodes a chunked body that starts at `at`, in place: the chunks' data is moved together
    /// right after the head. Returns the body's range.
    async fn dechunk(&mut self, at: usize) -> io::Result<(usize, usize)> {
        let mut read = at; // next unread byte of the chunked encoding
        let mut write = at; // end of the decoded body
        loop {
            let (size_len, size) = loop {
                match httparse::parse_chunk_size(&self.buf[read..]) {
                    Ok(httparse::Status::Complete((n, size))) => break (n, size as usize),
                    Ok(httparse::Status::Partial) => {
                        if !self.fill().await? {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                    }
                    Err(_) => return Err(bad("malformed chunk size")),
                }
            };
            // chunk data then CRLF (after the last, empty chunk: the final CRLF, no trailers)
            while self.buf.len() < read + size_len + size + 2 {
                if !self.fill().await? {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            let data = read + size_len;
            self.buf.copy_within(data..data + size, write);
            write += size;
            read = data + size + 2;
            if size == 0 {
                self.consumed = read;
                return Ok((at, write));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request (read up to its blank line) with the next of
    /// `answers`, then closes the connection.
    async fn serve(answers: Vec<&'static [u8]>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            for a in answers {
                let mut got = Vec::new();
                let mut b = [0u8; 1024];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut b).await.unwrap();
                    got.extend_from_slice(&b[..n]);
                }
                s.write_all(a).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_length_chunked_and_close_delimited_answers() {
        let addr = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 400 Bad Request\r\nX-Amzn-ErrorType: ThrottlingException\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\ntill the end",
        ])
        .await;
        let mut c = Conn::connect(&addr).await.unwrap();
        let a = c.post(&[("host", "x")], b"{}").await.unwrap();
        assert_eq!((a.status, a.body, a.close), (200, &b"hello"[..], false));
        let a = c.post(&[("host", "x")], b"").await.unwrap();
        assert_eq!((a.status, a.body), (400, &b"abcde"[..]));
        assert_eq!(a.error_type.as_deref(), Some("ThrottlingException"));
        let a = c.post(&[("host", "x")], b"").await.unwrap();
        assert_eq!(
            (a.status, a.body, a.close),
            (200, &b"till the end"[..], true)
        );
    }

    #[tokio::test]
    async fn a_connection_closed_mid_answer_is_an_error() {
        let addr = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"]).await;
        let mut c = Conn::connect(&addr).await.unwrap();
        let e = c.post(&[("host", "x")], b"").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
