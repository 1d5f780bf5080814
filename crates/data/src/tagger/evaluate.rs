//! Tagging accuracy against gold sentences: overall and per tag, for both tag sets.

use std::collections::BTreeMap;
use std::fmt;

/// Counts for one tag: how often it was gold, predicted, and both at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagScore {
    pub gold: usize,
    pub predicted: usize,
    pub correct: usize,
}

impl TagScore {
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.predicted)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.gold)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Result of tagging gold sentences.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    pub sentences: usize,
    pub tokens: usize,
    pub upos_correct: usize,
    pub xpos_correct: usize,
    /// Tokens whose UPOS and XPOS were both right.
    pub both_correct: usize,
    pub upos_per_tag: BTreeMap<String, TagScore>,
    pub xpos_per_tag: BTreeMap<String, TagScore>,
}

impl Evaluation {
    pub fn upos_accuracy(&self) -> f64 {
        ratio(self.upos_correct, self.tokens)
    }
    pub fn xpos_accuracy(&self) -> f64 {
        ratio(self.xpos_correct, self.tokens)
    }
    pub fn joint_accuracy(&self) -> f64 {
        ratio(self.both_correct, self.tokens)
    }

    /// Records one token.
    pub(crate) fn add(&mut self, gold: (&str, &str), predicted: (&str, &str)) {
        self.tokens += 1;
        let upos_ok = gold.0 == predicted.0;
        let xpos_ok = gold.1 == predicted.1;
        self.upos_correct += usize::from(upos_ok);
        self.xpos_correct += usize::from(xpos_ok);
        self.both_correct += usize::from(upos_ok && xpos_ok);
        count(&mut self.upos_per_tag, gold.0, predicted.0);
        count(&mut self.xpos_per_tag, gold.1, predicted.1);
    }
}

fn count(table: &mut BTreeMap<String, TagScore>, gold: &str, predicted: &str) {
    table.entry(gold.to_string()).or_default().gold += 1;
    table.entry(predicted.to_string()).or_default().predicted += 1;
    if gold == predicted {
        table.entry(gold.to_string()).or_default().correct += 1;
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sentences {}  tokens {}", self.sentences, self.tokens)?;
        writeln!(f, "UPOS accuracy  {:.2} %", 100.0 * self.upos_accuracy())?;
        writeln!(f, "XPOS accuracy  {:.2} %", 100.0 * self.xpos_accuracy())?;
        writeln!(f, "both accuracy  {:.2} %", 100.0 * self.joint_accuracy())?;
        for (name, table) in [("UPOS", &self.upos_per_tag), ("XPOS", &self.xpos_per_tag)] {
            writeln!(
                f,
                "\n{name:<6} {:>7} {:>7} {:>7} {:>7} {:>7}",
                "gold", "pred", "prec", "recall", "F1"
            )?;
            for (tag, s) in table {
                writeln!(
                    f,
                    "{tag:<6} {:>7} {:>7} {:>6.2}% {:>6.2}% {:>6.2}%",
                    s.gold,
                    s.predicted,
                    100.0 * s.precision(),
                    100.0 * s.recall(),
                    100.0 * s.f1()
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accuracy_and_per_tag_scores() {
        let mut e = Evaluation::default();
        e.add(("NOUN", "NN"), ("NOUN", "NN"));
        e.add(("NOUN", "NNS"), ("NOUN", "NN"));
        e.add(("VERB", "VBG"), ("NOUN", "NN"));
        e.add(("DET", "DT"), ("DET", "DT"));
        assert_eq!(e.tokens, 4);
        assert!((e.upos_accuracy() - 0.75).abs() < 1e-12);
        assert!((e.xpos_accuracy() - 0.5).abs() < 1e-12);
        let noun = e.upos_per_tag["NOUN"];
        assert_eq!((noun.gold, noun.predicted, noun.correct), (2, 3, 2));
        assert!((noun.precision() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(e.upos_per_tag["VERB"].recall(), 0.0);
        assert!(e.to_string().contains("UPOS accuracy  75.00 %"));
    }
}
