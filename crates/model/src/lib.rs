//! negclip-model
