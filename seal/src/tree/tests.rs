//! The published RFC 6962 test vectors of the transparency-dev/merkle project
//! (testonly/constants.go and proof/verify_test.go), written out here, plus
//! exhaustive checks of proofs over small trees.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::hash::leaf_hash;

fn h(hex: &str) -> Hash {
    Hash::from_hex(hex).unwrap()
}

/// testonly.LeafInputs()
fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|x| hex::decode(x).unwrap())
    .collect()
}

/// testonly.NodeHashes(): by level, then index.
fn node_hashes() -> Vec<Vec<Hash>> {
    vec![
        vec![
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
            h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
        ],
        vec![
            h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        ],
        vec![
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
        vec![h(
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        )],
    ]
}

/// testonly.RootHashes(): by tree size, from the empty tree.
fn roots() -> Vec<Hash> {
    vec![
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
        h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
        h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ]
}

/// proof/verify_test.go inclusionProofs: (1-based leaf, tree size, proof).
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            3,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            2,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// proof/verify_test.go consistencyProofs: (size1, size2, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

fn leaves() -> Vec<Hash> {
    leaf_inputs().iter().map(|data| leaf_hash(data)).collect()
}

/// RFC 6962 MTH, straight from the definition (the reference).
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn subtree_of(leaves: &[Hash]) -> impl FnMut(Subtree) -> Result<Hash, ProofError> + '_ {
    |s: Subtree| Ok(mth(&leaves[s.start() as usize..s.end() as usize]))
}

fn proof_of(leaves: &[Hash], ranges: &[(u64, u64)]) -> Vec<Hash> {
    ranges
        .iter()
        .map(|(a, b)| range_root(*a, *b, &mut subtree_of(leaves)).unwrap())
        .collect()
}

#[test]
fn leaf_and_node_hashes_match_the_published_vectors() {
    let leaves = leaves();
    let nodes = node_hashes();
    assert_eq!(leaves, nodes[0]);
    for level in 1..nodes.len() {
        for (i, expected) in nodes[level].iter().enumerate() {
            let got = node_hash(&nodes[level - 1][2 * i], &nodes[level - 1][2 * i + 1]);
            assert_eq!(got, *expected, "level {level} index {i}");
        }
    }
    assert_eq!(Hash::empty_root(), roots()[0]);
}

#[test]
fn roots_of_every_prefix_match_the_published_vectors() {
    let leaves = leaves();
    let mut tree = CompactRange::new();
    assert_eq!(tree.root(), roots()[0]);
    for (size, expected) in roots().iter().enumerate().skip(1) {
        tree.append(leaves[size - 1]);
        assert_eq!(tree.root(), *expected, "size {size}");
        assert_eq!(mth(&leaves[..size]), *expected, "reference, size {size}");
        let from_store = range_root(0, size as u64, &mut subtree_of(&leaves)).unwrap();
        assert_eq!(from_store, *expected, "range_root, size {size}");
    }
}

#[test]
fn compact_ranges_match_the_published_compact_trees() {
    let n = node_hashes();
    let expected: Vec<Vec<Hash>> = vec![
        vec![],
        vec![n[0][0]],
        vec![n[1][0]],
        vec![n[1][0], n[0][2]],
        vec![n[2][0]],
        vec![n[2][0], n[0][4]],
        vec![n[2][0], n[1][2]],
        vec![n[2][0], n[1][2], n[0][6]],
        vec![n[3][0]],
    ];
    let mut tree = CompactRange::new();
    assert_eq!(tree.hashes(), expected[0].as_slice());
    let mut completed = Vec::new();
    for (i, leaf) in leaves().into_iter().enumerate() {
        tree.append_with(leaf, |subtree, hash| completed.push((subtree, *hash)));
        assert_eq!(tree.hashes(), expected[i + 1].as_slice(), "size {}", i + 1);
    }
    // Every completed subtree above the leaves is reported once, with its root.
    let mut reported: Vec<Hash> = completed.iter().map(|(_, hash)| *hash).collect();
    let mut all: Vec<Hash> = n[1..].iter().flatten().copied().collect();
    reported.sort();
    all.sort();
    assert_eq!(reported, all);
    for (subtree, hash) in completed {
        assert_eq!(n[subtree.level as usize][subtree.index as usize], hash);
    }
}

#[test]
fn inclusion_proofs_match_and_verify_against_the_published_vectors() {
    let leaves = leaves();
    let roots = roots();
    for (leaf, size, expected) in inclusion_vectors() {
        let index = leaf - 1;
        let proof = proof_of(&leaves, &inclusion_ranges(index, size).unwrap());
        assert_eq!(proof, expected, "leaf {index} size {size}");
        let root = roots[size as usize];
        let leaf_hash = leaves[index as usize];
        assert_eq!(
            root_from_inclusion(index, size, &leaf_hash, &proof),
            Ok(root)
        );
        assert_eq!(
            verify_inclusion(index, size, &leaf_hash, &proof, &root),
            Ok(())
        );

        // The corruptions of verify_test.go's corruptInclusionProof.
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (index.wrapping_sub(1), size, root, leaf_hash, proof.clone()),
            (index + 1, size, root, leaf_hash, proof.clone()),
            (index ^ 2, size, root, leaf_hash, proof.clone()),
            (index, size * 2, root, leaf_hash, proof.clone()),
            (index, size / 2, root, leaf_hash, proof.clone()),
            (index, size, root, Hash::digest(b"WrongLeaf"), proof.clone()),
            (index, size, roots[0], leaf_hash, proof.clone()),
            (index, size, some, leaf_hash, proof.clone()),
            (
                index,
                size,
                root,
                leaf_hash,
                [proof.clone(), vec![root]].concat(),
            ),
            (
                index,
                size,
                root,
                leaf_hash,
                [vec![root], proof.clone()].concat(),
            ),
        ];
        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i].0[0] ^= 8;
            probes.push((index, size, root, leaf_hash, wrong));
        }
        if !proof.is_empty() {
            probes.push((
                index,
                size,
                root,
                leaf_hash,
                proof[..proof.len() - 1].to_vec(),
            ));
        }
        if proof.len() > 1 {
            let wrong = [vec![proof[0], some], proof[1..].to_vec()].concat();
            probes.push((index, size, root, leaf_hash, wrong));
        }
        for (n, (i, s, r, l, p)) in probes.into_iter().enumerate() {
            assert!(
                verify_inclusion(i, s, &l, &p, &r).is_err(),
                "probe {n} of leaf {index} size {size} verified"
            );
        }
    }
}

#[test]
fn consistency_proofs_match_and_verify_against_the_published_vectors() {
    let leaves = leaves();
    let roots = roots();
    for (first, second, expected) in consistency_vectors() {
        let proof = proof_of(&leaves, &consistency_ranges(first, second).unwrap());
        assert_eq!(proof, expected, "{first} -> {second}");
        let (r1, r2) = (roots[first as usize], roots[second as usize]);
        assert_eq!(verify_consistency(first, second, &r1, &r2, &proof), Ok(()));
        if proof.is_empty() {
            continue;
        }
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (first - 1, second, r1, r2, proof.clone()),
            (first + 1, second, r1, r2, proof.clone()),
            (first ^ 2, second, r1, r2, proof.clone()),
            (first, second * 2, r1, r2, proof.clone()),
            (first, second / 2, r1, r2, proof.clone()),
            (first, second, Hash::digest(b"WrongRoot"), r2, proof.clone()),
            (first, second, r1, Hash::digest(b"WrongRoot"), proof.clone()),
            (first, second, r2, r1, proof.clone()),
            (first, second, r1, r2, vec![]),
            (first, second, r1, r2, [proof.clone(), vec![r1]].concat()),
            (first, second, r1, r2, [proof.clone(), vec![r2]].concat()),
            (first, second, r1, r2, [vec![r1], proof.clone()].concat()),
            (first, second, r1, r2, [vec![r2], proof.clone()].concat()),
            (
                first,
                second,
                r1,
                r2,
                [vec![proof[0]], proof.clone()].concat(),
            ),
            (first, second, r1, r2, proof[..proof.len() - 1].to_vec()),
        ];
        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i].0[0] ^= 16;
            probes.push((first, second, r1, r2, wrong));
        }
        for (n, (a, b, x, y, p)) in probes.into_iter().enumerate() {
            assert!(
                verify_consistency(a, b, &x, &y, &p).is_err(),
                "probe {n} of {first} -> {second} verified"
            );
        }
    }
}

#[test]
fn trivial_consistency_cases_follow_the_reference_verifier() {
    let empty = roots()[0];
    let (a, b) = (Hash::digest(b"don't care 1"), Hash::digest(b"don't care 2"));
    assert!(verify_consistency(0, 0, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 0, &a, &a, &[]).is_ok());
    assert!(verify_consistency(0, 1, &a, &b, &[]).is_ok());
    assert!(verify_consistency(1, 1, &b, &b, &[]).is_ok());
    assert!(verify_consistency(1, 0, &a, &b, &[]).is_err());
    assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 0, &empty, &empty, &[empty]).is_err());
    assert!(verify_consistency(0, 1, &empty, &empty, &[empty]).is_err());
    assert!(verify_consistency(1, 1, &empty, &empty, &[empty]).is_err());
}

#[test]
fn every_proof_over_trees_up_to_70_leaves_verifies() {
    let leaves: Vec<Hash> = (0..70_u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    for size in 1..=leaves.len() as u64 {
        let root = mth(&leaves[..size as usize]);
        for index in 0..size {
            let proof = proof_of(&leaves, &inclusion_ranges(index, size).unwrap());
            verify_inclusion(index, size, &leaves[index as usize], &proof, &root).unwrap();
        }
        for first in 1..=size {
            let proof = proof_of(&leaves, &consistency_ranges(first, size).unwrap());
            let first_root = mth(&leaves[..first as usize]);
            verify_consistency(first, size, &first_root, &root, &proof).unwrap();
        }
    }
}
