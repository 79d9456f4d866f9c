//! The append-only Merkle tree of RFC 6962 over the sealed log.
//!
//! - [`CompactRange`] — the roots of the perfect subtrees that make up a tree
//!   of a given size (at most 64 hashes): enough to append leaves and to get
//!   the root, which is all the sealer and a verifier keep in memory.
//! - [`range_root`], [`inclusion_ranges`], [`consistency_ranges`] — proofs
//!   as lists of subtree ranges, whose hashes come from any store of perfect
//!   subtree roots (the database keeps those of 256 leaves and more).
//! - [`root_from_inclusion`], [`verify_inclusion`], [`verify_consistency`] —
//!   the verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.

use crate::hash::{node_hash, Hash};

/// A perfect subtree: `2^level` leaves starting at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    pub level: u32,
    pub index: u64,
}

impl Subtree {
    /// The first leaf it covers.
    pub fn start(&self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf it covers.
    pub fn end(&self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// The roots of the perfect subtrees of a tree of `size` leaves, largest
/// (leftmost) first: one per set bit of `size`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

/// Why a proof or a compact range does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {first} is larger than {second}")]
    SizesReversed { first: u64, second: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("a tree of {size} leaves has {expected} subtree roots, not {got}")]
    WrongCompactRange {
        size: u64,
        expected: u32,
        got: usize,
    },
    #[error("range {start}..{end} does not start on a subtree boundary")]
    Unaligned { start: u64, end: u64 },
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of `size` leaves from its subtree roots, largest first.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        if hashes.len() != size.count_ones() as usize {
            return Err(ProofError::WrongCompactRange {
                size,
                expected: size.count_ones(),
                got: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The perfect subtrees of a tree of `size` leaves, largest first.
    pub fn subtrees(size: u64) -> Vec<Subtree> {
        decompose(0, size).unwrap_or_default()
    }

    /// Appends one leaf hash.
    pub fn append(&mut self, leaf: Hash) {
        self.append_with(leaf, |_, _| {});
    }

    /// Appends one leaf hash and reports every subtree (above the leaves)
    /// that it completes, with its root.
    pub fn append_with(&mut self, leaf: Hash, mut completed: impl FnMut(Subtree, &Hash)) {
        let mut hash = leaf;
        let mut subtree = Subtree {
            level: 0,
            index: self.size,
        };
        while (self.size >> subtree.level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            subtree = Subtree {
                level: subtree.level + 1,
                index: subtree.index >> 1,
            };
            completed(subtree, &hash);
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The tree's root (SHA-256 of nothing for the empty tree).
    pub fn root(&self) -> Hash {
        fold_right(&self.hashes)
    }
}

/// Root of subtree roots listed largest first: `H(s1, H(s2, ... H(sk-1, sk)))`.
fn fold_right(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    let Some(last) = iter.next() else {
        return Hash::empty_root();
    };
    iter.fold(*last, |acc, left| node_hash(left, &acc))
}

/// The perfect subtrees that make up leaves `start..end`, largest first, or
/// an error when `start` is not on the boundary of the largest one (ranges
/// that proofs use always are).
pub fn decompose(start: u64, end: u64) -> Result<Vec<Subtree>, ProofError> {
    if end < start {
        return Err(ProofError::SizesReversed {
            first: start,
            second: end,
        });
    }
    let count = end - start;
    let mut position = start;
    let mut out = Vec::with_capacity(count.count_ones() as usize);
    for level in (0..64_u32).rev() {
        if count & (1_u64 << level) != 0 {
            if position & ((1_u64 << level) - 1) != 0 {
                return Err(ProofError::Unaligned { start, end });
            }
            out.push(Subtree {
                level,
                index: position >> level,
            });
            position += 1_u64 << level;
        }
    }
    Ok(out)
}

/// The root of leaves `start..end` (RFC 6962's MTH of that range), from the
/// roots of its perfect subtrees as `subtree` gives them.
pub fn range_root<E>(
    start: u64,
    end: u64,
    subtree: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Hash, E>
where
    E: From<ProofError>,
{
    let hashes = decompose(start, end)?
        .into_iter()
        .map(&mut *subtree)
        .collect::<Result<Vec<_>, E>>()?;
    Ok(fold_right(&hashes))
}

/// The leaf ranges whose roots form the inclusion proof of leaf `index` in a
/// tree of `size` (RFC 6962 §2.1.1 PATH), in proof order (leaf to root).
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<(u64, u64)>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    fn path(m: u64, start: u64, n: u64, out: &mut Vec<(u64, u64)>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(m, start, k, out);
            out.push((start + k, start + n));
        } else {
            path(m - k, start + k, n - k, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    Ok(out)
}

/// The leaf ranges whose roots form the consistency proof between trees of
/// `first` and `second` leaves (RFC 6962 §2.1.2 PROOF), in proof order.
pub fn consistency_ranges(first: u64, second: u64) -> Result<Vec<(u64, u64)>, ProofError> {
    if first > second {
        return Err(ProofError::SizesReversed { first, second });
    }
    fn subproof(m: u64, start: u64, n: u64, complete: bool, out: &mut Vec<(u64, u64)>) {
        if m == n {
            if !complete {
                out.push((start, start + n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, start, k, complete, out);
            out.push((start + k, start + n));
        } else {
            subproof(m - k, start + k, n - k, false, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    if first > 0 && first < second {
        subproof(first, 0, second, true, &mut out);
    }
    Ok(out)
}

/// The largest power of two below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1_u64 << (63 - (n - 1).leading_zeros())
}

/// The root that an inclusion proof of `leaf` at `index` leads to in a tree
/// of `size` (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    Ok(r)
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves with `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if root_from_inclusion(index, size, leaf, proof)? == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks that the tree of `first` leaves with `first_root` is a prefix of the
/// tree of `second` leaves with `second_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesReversed { first, second });
    }
    if first == second {
        return if !proof.is_empty() {
            Err(ProofError::WrongLength)
        } else if first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if first == 0 {
        // The empty tree is a prefix of every tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr == *first_root && sr == *second_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

#[cfg(test)]
mod tests;
