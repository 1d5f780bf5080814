//! Accuracy of the shipped tagger: on the UD English-EWT test set (when the team
//! data is present) and on hand-tagged image captions (always).

use std::path::PathBuf;

use negclip_data::tagger::{Sentence, Tagger};

/// `$NEGCLIP_SHARED` if set, else `<workspace root>/../shared`.
fn shared_dir() -> PathBuf {
    match std::env::var_os("NEGCLIP_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

#[test]
fn shipped_model_on_ewt_test() {
    let path = shared_dir().join("ud-english/en_ewt/en_ewt-ud-test.conllu");
    if !path.exists() {
        println!("SKIPPED: ../shared/ud-english not found, EWT accuracy not checked");
        return;
    }
    let sentences = negclip_data::tagger::read_conllu(&path).unwrap();
    let evaluation = Tagger::shipped().evaluate(&sentences);
    println!("{evaluation}");
    assert!(
        evaluation.tokens > 25_000,
        "test set looks truncated: {} tokens",
        evaluation.tokens
    );
    assert!(
        evaluation.upos_accuracy() >= 0.95,
        "UPOS {:.4}",
        evaluation.upos_accuracy()
    );
    assert!(
        evaluation.xpos_accuracy() >= 0.94,
        "XPOS {:.4}",
        evaluation.xpos_accuracy()
    );
}

/// Parses `word/UPOS/XPOS` tokens, one caption per line, `#` comments.
fn hand_tagged_captions() -> Vec<Sentence> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/captions_tagged.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(n, line)| {
            let triples: Vec<(&str, &str, &str)> = line
                .split_whitespace()
                .map(|token| {
                    let mut parts = token.splitn(3, '/');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(w), Some(u), Some(x)) => (w, u, x),
                        _ => panic!(
                            "{}:{}: token {token:?} is not word/UPOS/XPOS",
                            path.display(),
                            n + 1
                        ),
                    }
                })
                .collect();
            Sentence::from_triples(&triples)
        })
        .collect()
}

#[test]
fn shipped_model_on_hand_tagged_captions() {
    let captions = hand_tagged_captions();
    assert!(captions.len() >= 100);
    let tagger = Tagger::shipped();
    for caption in &captions {
        let words: Vec<&str> = caption.words.iter().map(|w| w.form.as_str()).collect();
        // Captions go through the tokeniser unchanged: it must not split them differently.
        assert_eq!(negclip_data::tagger::word_tokenize(&words.join(" ")), words);
        for (gold, got) in caption.words.iter().zip(tagger.tag_words(&words)) {
            if (gold.upos.as_str(), gold.xpos.as_str()) != (got.upos.as_str(), got.xpos.as_str()) {
                println!(
                    "{:<60} {}: gold {}/{} got {}/{}",
                    words.join(" "),
                    gold.form,
                    gold.upos,
                    gold.xpos,
                    got.upos,
                    got.xpos
                );
            }
        }
    }
    let evaluation = tagger.evaluate(&captions);
    println!("{evaluation}");
    assert!(
        evaluation.upos_accuracy() >= 0.97,
        "UPOS {:.4}",
        evaluation.upos_accuracy()
    );
    assert!(
        evaluation.xpos_accuracy() >= 0.97,
        "XPOS {:.4}",
        evaluation.xpos_accuracy()
    );
    assert!(
        evaluation.joint_accuracy() >= 0.97,
        "both {:.4}",
        evaluation.joint_accuracy()
    );
}
