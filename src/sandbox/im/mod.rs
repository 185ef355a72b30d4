//! Tencent IM emulator (placeholder).
