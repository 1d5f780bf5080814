//! Every item's scores, as the metrics saw them: what `negclip eval --save-scores` writes, one
//! JSON line per item, so that significance tests and error analyses need no rerun
//! (docs/evaluation.md, "Saved scores").

use negclip_data::suite::Suite;
use serde::{Deserialize, Serialize};

use super::ClassificationCosines;

/// One suite's scores, in the shape its metrics take them.
#[derive(Debug, Clone, PartialEq)]
pub enum SuiteScores {
    /// `[item][option]`: the cosine of the item's image with each of its captions.
    Choice(Vec<Vec<f32>>),
    /// `[image][caption]`: the similarity matrix.
    Retrieval(Vec<Vec<f32>>),
    /// `[image][class]` for the images and for the out-of-distribution images.
    Classification(ClassificationCosines),
    /// `[item][image][caption]`.
    Group(Vec<Vec<Vec<f32>>>),
}

/// One line of a scores file: one item (choice and group suites) or one image (retrieval and
/// classification suites) of one suite, scored by one checkpoint. `kind` tells them apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScoreRecord {
    /// A choice item: `scores[o]` is the cosine of its image with option `o`.
    Choice {
        checkpoint: String,
        suite: String,
        /// The item's position in the suite (after any subsample).
        item: usize,
        /// Its image's position among the suite's images.
        image: usize,
        /// The option that is true.
        true_index: usize,
        /// The item's group (relation, attribute pair, subset), as macro averages use it.
        group: String,
        scores: Vec<f32>,
    },
    /// A retrieval image: `scores[c]` is its cosine with caption `c` of the suite.
    Retrieval {
        checkpoint: String,
        suite: String,
        image: usize,
        /// The captions that belong to this image.
        true_captions: Vec<usize>,
        scores: Vec<f32>,
    },
    /// A classification image: `scores[k]` is its cosine with class `k`'s prompt ensemble.
    Classification {
        checkpoint: String,
        suite: String,
        image: usize,
        /// Its class; `None` for an out-of-distribution image.
        label: Option<usize>,
        ood: bool,
        scores: Vec<f64>,
    },
    /// A group item: `scores[i][c]` is the cosine of its image `i` with its caption `c`.
    Group {
        checkpoint: String,
        suite: String,
        /// The item's id in its source file.
        id: String,
        /// `truth[i]`: the captions true of image `i`.
        truth: Vec<Vec<usize>>,
        scores: Vec<Vec<f32>>,
    },
}

impl ScoreRecord {
    /// The lines of one suite's scores. `scores` must be the scores of `suite`.
    pub fn of_suite(checkpoint: &str, suite: &Suite, scores: &SuiteScores) -> Vec<ScoreRecord> {
        let checkpoint = checkpoint.to_string();
        let name = suite.name().to_string();
        match (suite, scores) {
            (Suite::Choice(choice), SuiteScores::Choice(scores)) => choice
                .items
                .iter()
                .zip(scores)
                .enumerate()
                .map(|(item, (entry, scores))| ScoreRecord::Choice {
                    checkpoint: checkpoint.clone(),
                    suite: name.clone(),
                    item,
                    image: entry.image,
                    true_index: entry.true_index,
                    group: entry.group.clone(),
                    scores: scores.clone(),
                })
                .collect(),
            (Suite::Retrieval(retrieval), SuiteScores::Retrieval(rows)) => rows
                .iter()
                .enumerate()
                .map(|(image, scores)| ScoreRecord::Retrieval {
                    checkpoint: checkpoint.clone(),
                    suite: name.clone(),
                    image,
                    true_captions: (0..retrieval.caption_image.len())
                        .filter(|&c| retrieval.caption_image[c] == image)
                        .collect(),
                    scores: scores.clone(),
                })
                .collect(),
            (Suite::Classification(classification), SuiteScores::Classification(cosines)) => {
                let labelled = cosines
                    .images
                    .iter()
                    .zip(&classification.labels)
                    .enumerate();
                let labelled =
                    labelled.map(|(image, (scores, &label))| (image, Some(label), scores));
                let ood = cosines.ood.iter().enumerate();
                let ood = ood.map(|(image, scores)| (image, None, scores));
                labelled
                    .chain(ood)
                    .map(|(image, label, scores)| ScoreRecord::Classification {
                        checkpoint: checkpoint.clone(),
                        suite: name.clone(),
                        image,
                        label,
                        ood: label.is_none(),
                        scores: scores.clone(),
                    })
                    .collect()
            }
            (Suite::Group(group), SuiteScores::Group(items)) => group
                .items
                .iter()
                .zip(items)
                .map(|(entry, scores)| ScoreRecord::Group {
                    checkpoint: checkpoint.clone(),
                    suite: name.clone(),
                    id: entry.id.clone(),
                    truth: entry.truth.clone(),
                    scores: scores.clone(),
                })
                .collect(),
            _ => panic!("scores of another kind than suite {name}"),
        }
    }

    /// The record as one JSON line, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("score records serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use negclip_data::suite::{Averaging, ChoiceItem, ChoiceSuite, Decision, RetrievalSuite};

    #[test]
    fn a_choice_line_names_the_item_its_truth_and_every_options_score() {
        let suite = Suite::Choice(ChoiceSuite {
            name: "vg-relation".into(),
            images: Vec::new(),
            items: vec![ChoiceItem {
                image: 3,
                options: vec!["a".into(), "b".into()],
                true_index: 1,
                group: "on".into(),
            }],
            decision: Decision::StrictlyHighest,
            averaging: Averaging::Micro,
        });
        let records =
            ScoreRecord::of_suite("ck", &suite, &SuiteScores::Choice(vec![vec![0.5, 0.25]]));
        let line = records[0].to_line();
        assert_eq!(
            line,
            r#"{"kind":"choice","checkpoint":"ck","suite":"vg-relation","item":0,"image":3,"true_index":1,"group":"on","scores":[0.5,0.25]}"#
        );
        assert_eq!(
            serde_json::from_str::<ScoreRecord>(&line).unwrap(),
            records[0]
        );
    }

    #[test]
    fn a_retrieval_line_lists_the_captions_of_its_image() {
        let suite = Suite::Retrieval(RetrievalSuite {
            name: "coco-retrieval".into(),
            images: Vec::new(),
            captions: vec!["x".into(), "y".into(), "z".into()],
            caption_image: vec![1, 0, 1],
        });
        let rows = vec![vec![0.1, 0.2, 0.3], vec![0.4, 0.5, 0.6]];
        let records = ScoreRecord::of_suite("ck", &suite, &SuiteScores::Retrieval(rows));
        let ScoreRecord::Retrieval {
            image,
            true_captions,
            scores,
            ..
        } = &records[1]
        else {
            panic!("a retrieval record");
        };
        assert_eq!((*image, true_captions.as_slice()), (1, &[0, 2][..]));
        assert_eq!(scores, &vec![0.4, 0.5, 0.6]);
    }
}
