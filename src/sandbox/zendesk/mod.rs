//! Zendesk emulator (placeholder).
