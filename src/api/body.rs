//! Reading a response body with a byte cap, so a server that streams without end costs a
//! bounded amount of memory instead of all of it (issue 17: a 4.5 GB process, then an abort).
//!
//! Bodies are read chunk by chunk and never kept past the cap. A JSON reply over its cap is an
//! error (half a JSON document is worthless); a log body over its cap is cut at the last line
//! end inside it and the caller says so (the lines kept are whole, the rest is the newest part
//! of a tail nobody asked for that long).

/// The largest JSON reply read: far above a 10,000-row list page of the real API (~2 KB a row),
/// far below what hurts a long-running process.
pub const JSON_REPLY_CAP: usize = 64 << 20;

/// What a capped read found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Capped {
    pub bytes: Vec<u8>,
    /// Bytes beyond the cap were sent (and dropped unread).
    pub over: bool,
}

/// Reads `response`'s body, stopping once `cap` bytes are in hand.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Capped, reqwest::Error> {
    let hint = response.content_length().unwrap_or(0);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(cap).min(cap).min(1 << 20));
    while let Some(chunk) = response.chunk().await? {
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Capped { bytes, over: true });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Capped { bytes, over: false })
}

/// `bytes` cut after its last `\n`: a log body cut at the cap keeps whole lines only.
pub fn to_last_line_end(mut bytes: Vec<u8>) -> Vec<u8> {
    let end = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    bytes.truncate(end);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_body_keeps_whole_lines_only() {
        assert_eq!(to_last_line_end(b"a\nb\nhalf".to_vec()), b"a\nb\n");
        assert_eq!(to_last_line_end(b"a\n".to_vec()), b"a\n");
        assert!(to_last_line_end(b"no line end".to_vec()).is_empty());
    }
}
