//! Period reports.
