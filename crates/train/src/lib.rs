//! negclip-train: the NegCLIP loss, optimiser and schedule, the training loop with
//! checkpoints and resume, and evaluation.

pub mod loss;
