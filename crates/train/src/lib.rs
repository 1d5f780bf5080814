//! negclip-train
