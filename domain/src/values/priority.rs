//! The incident priority score.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{Severity, ValueError};

/// How urgent an incident is, 0..=200; higher sorts first. The correlator
/// computes it ([`PriorityScore::compute`]) and records it, so replay never
/// recomputes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct PriorityScore(u8);

const MAX_SCORE: u8 = 200;

impl PriorityScore {
    /// Checks the score is within 0..=200.
    pub fn new(score: i64) -> Result<Self, ValueError> {
        u8::try_from(score)
            .ok()
            .filter(|score| *score <= MAX_SCORE)
            .map(Self)
            .ok_or_else(|| ValueError::new("priority_score", "must be between 0 and 200"))
    }

    /// Clamps any raw score into 0..=200, for computed scores.
    pub fn clamped(score: i64) -> Self {
        let bounded = score.clamp(0, i64::from(MAX_SCORE));
        Self(u8::try_from(bounded).unwrap_or(MAX_SCORE))
    }

    /// The score the product's rule gives: the severity's base (critical 90,
    /// high 60, medium 30, low 10); +20 on a critical asset; +2 per duplicate
    /// alert up to +20; +10 when two or more tools report it; −1 per full hour
    /// of age up to −10.
    pub fn compute(
        severity: Severity,
        critical_asset: bool,
        duplicates: u32,
        distinct_tools: usize,
        age: Duration,
    ) -> Self {
        let base = i64::from(severity.base_priority());
        let asset_bonus = if critical_asset { 20 } else { 0 };
        let duplicate_bonus = (i64::from(duplicates) * 2).min(20);
        let tools_bonus = if distinct_tools >= 2 { 10 } else { 0 };
        let age_penalty = age.num_hours().clamp(0, 10);
        Self::clamped(base + asset_bonus + duplicate_bonus + tools_bonus - age_penalty)
    }

    /// The score.
    pub fn value(&self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for PriorityScore {
    type Error = ValueError;

    fn try_from(score: i64) -> Result<Self, Self::Error> {
        Self::new(score)
    }
}

impl From<PriorityScore> for u8 {
    fn from(score: PriorityScore) -> u8 {
        score.0
    }
}

impl std::fmt::Display for PriorityScore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
