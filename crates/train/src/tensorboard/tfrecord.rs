//! TFRecord framing, the container of an events file: each record is its length (u64,
//! little-endian), the masked CRC32C of those 8 bytes, the data, and the masked CRC32C of the
//! data. The mask is TensorFlow's (`tensorflow/core/lib/hash/crc32c.h`, and TensorBoard's
//! `compat/tensorflow_stub/pywrap_tensorflow.py`): rotate right by 15 bits, add 0xa282ead8,
//! so that a CRC of data that itself holds CRCs is not trivially zero.

/// What TensorFlow adds to a rotated CRC.
const MASK_DELTA: u32 = 0xa282_ead8;
/// Length, and its CRC, before the data; the data's CRC after it.
const HEADER: usize = 8 + 4;
const FOOTER: usize = 4;

/// The masked CRC32C of `data`.
pub fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(MASK_DELTA)
}

/// `data` as one framed record, ready to be written in a single call (so a killed process
/// leaves at most one torn record, at the end).
pub fn frame(data: &[u8]) -> Vec<u8> {
    let length = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(HEADER + data.len() + FOOTER);
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// The records of a file's bytes, in order, and where reading stopped early.
pub struct Records<'a> {
    pub records: Vec<&'a [u8]>,
    /// `None`: every byte was read. Otherwise the offset of the first record that could not
    /// be read and why (a torn last record of a killed run, or damage).
    pub stopped: Option<(usize, &'static str)>,
}

/// Split `bytes` into records, checking both CRCs of each.
pub fn unframe(bytes: &[u8]) -> Records<'_> {
    let mut records = Vec::new();
    let mut at = 0;
    let stopped = loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < HEADER {
            break Some((at, "a record header cut short"));
        }
        let (length, crc) = rest[..HEADER].split_at(8);
        if masked_crc(length) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            break Some((at, "a record length whose CRC does not match"));
        }
        let length = u64::from_le_bytes(length.try_into().expect("8 bytes"));
        let Some(end) = usize::try_from(length)
            .ok()
            .and_then(|n| n.checked_add(HEADER + FOOTER))
            .filter(|&end| end <= rest.len())
        else {
            break Some((at, "a record cut short"));
        };
        let data = &rest[HEADER..end - FOOTER];
        let crc = u32::from_le_bytes(rest[end - FOOTER..end].try_into().expect("4 bytes"));
        if masked_crc(data) != crc {
            break Some((at, "a record whose data CRC does not match"));
        }
        records.push(data);
        at += end;
    };
    Records { records, stopped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_crc32c_masked_as_tensorflow_does() {
        // CRC32C("123456789") = 0xe3069283, the check value of the Castagnoli polynomial;
        // masked: rotated right by 15 bits, plus 0xa282ead8.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(
            masked_crc(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
        // An empty record as TensorFlow frames it: length 0, then the CRCs.
        let empty = frame(b"");
        assert_eq!(empty.len(), 16);
        assert_eq!(&empty[..8], &[0; 8]);
        assert_eq!(empty[8..12], masked_crc(&[0; 8]).to_le_bytes());
    }

    #[test]
    fn records_read_back_and_a_torn_or_damaged_tail_is_where_reading_stops() {
        let mut bytes = frame(b"first");
        bytes.extend(frame(b"second record"));
        let whole = unframe(&bytes);
        assert_eq!(whole.records, vec![&b"first"[..], &b"second record"[..]]);
        assert!(whole.stopped.is_none());

        let first_len = frame(b"first").len();
        for cut in [first_len + 3, first_len + 14, bytes.len() - 1] {
            let torn = unframe(&bytes[..cut]);
            assert_eq!(torn.records, vec![&b"first"[..]], "cut at {cut}");
            assert_eq!(torn.stopped.map(|(at, _)| at), Some(first_len));
        }
        let mut damaged = bytes.clone();
        damaged[first_len + 13] ^= 1; // a byte of the second record's data
        let read = unframe(&damaged);
        assert_eq!(read.records.len(), 1);
        assert_eq!(
            read.stopped,
            Some((first_len, "a record whose data CRC does not match"))
        );
    }
}
