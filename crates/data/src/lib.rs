//! negclip-data
