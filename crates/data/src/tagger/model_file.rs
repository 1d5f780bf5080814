//! The tagger's binary model format (gzip-compressed, little-endian):
//!
//! ```text
//! magic   b"NEGTAG01"
//! u16 n_classes, then per class: str upos, str xpos       (str = u8 length + UTF-8)
//! u32 n_tagdict, then per entry: u16 length + UTF-8 word, u16 class   (sorted by word)
//! twice (first pass, then second pass):
//!   f32 scale                                             (weight = i16 * scale)
//!   u32 n_features, then per feature: u32 key, u8 n, n × (u16 class, i16 weight)  (sorted by hash)
//! ```
//!
//! Weights are quantised to i16 against the largest magnitude: the rounding
//! (< 0.002 % of the range) does not change a single prediction on EWT.

use std::io::{Read, Write};

use super::perceptron::{QuantisedRows, SparseWeights};

const MAGIC: &[u8; 8] = b"NEGTAG01";

/// Everything a tagger model holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelData {
    /// `(upos, xpos)` of each joint class.
    pub(crate) classes: Vec<(String, String)>,
    /// Frequent unambiguous words and their class.
    pub(crate) tagdict: Vec<(String, u16)>,
    pub(crate) weights: SparseWeights,
    pub(crate) second: SparseWeights,
}

pub(crate) fn encode(model: &ModelData) -> Vec<u8> {
    let mut raw = Vec::new();
    raw.extend_from_slice(MAGIC);
    raw.extend_from_slice(&(model.classes.len() as u16).to_le_bytes());
    for (upos, xpos) in &model.classes {
        put_short_str(&mut raw, upos);
        put_short_str(&mut raw, xpos);
    }
    let mut tagdict = model.tagdict.clone();
    tagdict.sort();
    raw.extend_from_slice(&(tagdict.len() as u32).to_le_bytes());
    for (word, class) in &tagdict {
        let bytes = &word.as_bytes()[..word.len().min(u16::MAX as usize)];
        raw.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        raw.extend_from_slice(bytes);
        raw.extend_from_slice(&class.to_le_bytes());
    }
    put_weights(&mut raw, &model.weights);
    put_weights(&mut raw, &model.second);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&raw).expect("writing to memory cannot fail");
    gz.finish().expect("writing to memory cannot fail")
}

fn put_weights(raw: &mut Vec<u8>, weights: &SparseWeights) {
    let (scale, rows) = weights.quantised_rows();
    raw.extend_from_slice(&scale.to_le_bytes());
    // A row's length is one byte in the file.
    let rows: QuantisedRows = rows
        .into_iter()
        .map(|(hash, mut entries)| {
            entries.truncate(u8::MAX as usize);
            (hash, entries)
        })
        .collect();
    raw.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for (hash, entries) in rows {
        raw.extend_from_slice(&hash.to_le_bytes());
        raw.push(entries.len() as u8);
        for (class, q) in entries {
            raw.extend_from_slice(&class.to_le_bytes());
            raw.extend_from_slice(&q.to_le_bytes());
        }
    }
}

fn put_short_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u8::MAX as usize)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Decodes a model; the error says what was malformed.
pub(crate) fn decode(gzipped: &[u8]) -> Result<ModelData, String> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .read_to_end(&mut raw)
        .map_err(|e| format!("not a gzip stream: {e}"))?;
    let mut r = Reader { bytes: &raw, at: 0 };
    if r.take(8)? != MAGIC {
        return Err("wrong magic: not a negclip tagger model".into());
    }
    let n_classes = r.u16()? as usize;
    let mut classes = Vec::with_capacity(n_classes);
    for _ in 0..n_classes {
        let upos = r.string(1)?;
        let xpos = r.string(1)?;
        classes.push((upos, xpos));
    }
    let n_tagdict = r.u32()? as usize;
    let mut tagdict = Vec::with_capacity(n_tagdict.min(1 << 20));
    for _ in 0..n_tagdict {
        let word = r.string(2)?;
        let class = r.class(n_classes)?;
        tagdict.push((word, class));
    }
    let weights = r.weights(n_classes)?;
    let second = r.weights(n_classes)?;
    if r.at != raw.len() {
        return Err(format!(
            "{} trailing bytes after the weights",
            raw.len() - r.at
        ));
    }
    Ok(ModelData {
        classes,
        tagdict,
        weights,
        second,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn weights(&mut self, n_classes: usize) -> Result<SparseWeights, String> {
        let r = self;
        let scale = f32::from_le_bytes(r.array()?);
        let n_features = r.u32()? as usize;
        let mut rows = Vec::with_capacity(n_features.min(1 << 24));
        for _ in 0..n_features {
            let hash = u32::from_le_bytes(r.array()?);
            let n = r.take(1)?[0] as usize;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let class = r.class(n_classes)?;
                let q = i16::from_le_bytes(r.array()?);
                entries.push((class, f32::from(q) * scale));
            }
            rows.push((hash, entries));
        }
        Ok(SparseWeights::from_rows(rows))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn class(&mut self, n_classes: usize) -> Result<u16, String> {
        let class = self.u16()?;
        if class as usize >= n_classes {
            return Err(format!(
                "class {class} out of range at byte {}",
                self.at - 2
            ));
        }
        Ok(class)
    }
    /// A string with a `len_bytes`-byte length prefix.
    fn string(&mut self, len_bytes: usize) -> Result<String, String> {
        let len = match len_bytes {
            1 => self.take(1)?[0] as usize,
            _ => self.u16()? as usize,
        };
        let at = self.at;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("invalid UTF-8 at byte {at}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelData {
        ModelData {
            classes: vec![("NOUN".into(), "NN".into()), ("DET".into(), "DT".into())],
            tagdict: vec![("the".into(), 1)],
            weights: SparseWeights::from_rows([
                (42u32, vec![(0u16, 1.0f32), (1, -0.5)]),
                (7, vec![(1, 0.25)]),
            ]),
            second: SparseWeights::from_rows([(3u32, vec![(1u16, 2.0f32)])]),
        }
    }

    #[test]
    fn round_trips_within_quantisation() {
        let model = sample();
        let back = decode(&encode(&model)).unwrap();
        assert_eq!(back.classes, model.classes);
        assert_eq!(back.tagdict, model.tagdict);
        let rows = back.weights.rows_sorted();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 7);
        assert!((rows[0].1[0].1 - 0.25).abs() < 1e-4);
        assert!((rows[1].1[1].1 + 0.5).abs() < 1e-4);
        assert_eq!(back.second.rows_sorted(), vec![(3, vec![(1, 2.0)])]);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(decode(b"not gzip").unwrap_err().contains("gzip"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"NEGTAG01\x02\x00").unwrap();
        let err = decode(&gz.finish().unwrap()).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
    }
}
